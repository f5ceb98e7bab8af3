# Random-slope reference values for vccscale.models.multilevel (issue 14, item 3) from lme4 1.1-31.
# Run from this directory:  Rscript random_slope_reference.R
# Writes random_slope_data.csv and random_slope_reference.json.
#
# Data (set.seed(1403)): 50 groups x 8 members; level-1 predictors x and w; a latent score
# 3.5 + u0 + (0.5 + u1) x + (0.3 + u2) w + e with SD(u0, u1, u2) = (0.6, 0.4, 0.3), cor(u0, u1) = 0.3, e ~ N(0, 0.7^2),
# answered on four 1..7 items i1..i4 (latent + N(0, 0.5^2), rounded, clipped). The outcome is the item mean m.
# Models (lmer, REML unless stated):
#   rs:  m ~ x + (x | g)          ri:  m ~ x + (1 | g)
#   rs2: m ~ x + w + (x + w | g)  ri2: m ~ x + w + (1 | g)
# each by REML and by ML, fitted to the optimum with bobyqa (rhoend = 1e-12): lme4's default stopping rule
# (nloptwrap, xtol_abs = ftol_abs = 1e-8) leaves the log-likelihood of rs2 1e-7 short of its maximum and its
# variance components up to 3e-5 (relative) away on the flat likelihood surface; the default fits are kept under
# "default" for comparison. The likelihood-ratio tests ("lrt", "lrt2") are anova(rs, ri) and anova(rs2, ri2), which
# refit the REML fits by ML (Chisq, Df, p as anova: naive chi-square reference distribution).
# Tested by tests/test_multilevel.py and tests/test_cli_rsa_multilevel.py.
suppressMessages({library(lme4); library(jsonlite)})
stopifnot(packageVersion("lme4") == "1.1.31")

set.seed(1403)
G <- 50; k <- 8
g <- rep(seq_len(G), each = k)
N <- G * k
sd_u <- c(0.6, 0.4, 0.3)
cor_u <- diag(3); cor_u[1, 2] <- cor_u[2, 1] <- 0.3
u <- matrix(rnorm(G * 3), G) %*% chol(diag(sd_u) %*% cor_u %*% diag(sd_u))
x <- round(rnorm(N), 4)
w <- round(rnorm(N), 4)
theta <- 3.5 + u[g, 1] + (0.5 + u[g, 2]) * x + (0.3 + u[g, 3]) * w + rnorm(N, 0, 0.7)
items <- sapply(1:4, function(j) pmin(7, pmax(1, round(theta + rnorm(N, 0, 0.5)))))
colnames(items) <- paste0("i", 1:4)
d <- data.frame(g = g, x = x, w = w, items)
write.csv(d, "random_slope_data.csv", row.names = FALSE)
d <- read.csv("random_slope_data.csv")
d$m <- rowMeans(d[, paste0("i", 1:4)])

fitinfo <- function(fit) {
  v <- as.data.frame(VarCorr(fit))
  fe <- summary(fit)$coefficients
  list(var = setNames(as.list(v$vcov), paste(v$grp, v$var1, ifelse(is.na(v$var2), "", v$var2), sep = "|")),
       sdcor = setNames(as.list(v$sdcor), paste(v$grp, v$var1, ifelse(is.na(v$var2), "", v$var2), sep = "|")),
       fixef = as.list(fe[, 1]), se = as.list(fe[, 2]), t = as.list(fe[, 3]),
       logLik = as.numeric(logLik(fit)), df = attr(logLik(fit), "df"), AIC = AIC(fit), BIC = BIC(fit),
       nobs = nobs(fit), REML = isREML(fit), singular = isSingular(fit),
       messages = fit@optinfo$conv$lme4$messages)
}
lrt <- function(big, small) {
  a <- anova(big, small)                             # refits both by ML
  list(Chisq = a$Chisq[2], Df = a$Df[2], p = a[["Pr(>Chisq)"]][2], logLik = as.list(setNames(a$logLik, rownames(a))),
       npar = as.list(setNames(a$npar, rownames(a))), AIC = as.list(setNames(a$AIC, rownames(a))),
       BIC = as.list(setNames(a$BIC, rownames(a))))
}
tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
rs_reml <- lmer(m ~ x + (x | g), data = d, control = tight)
ri_reml <- lmer(m ~ x + (1 | g), data = d, control = tight)
rs2_reml <- lmer(m ~ x + w + (x + w | g), data = d, control = tight)
ri2_reml <- lmer(m ~ x + w + (1 | g), data = d, control = tight)
out <- list(
  versions = list(R = as.character(getRversion()), lme4 = as.character(packageVersion("lme4"))),
  N = N, G = G, control = "lmerControl(optimizer = 'bobyqa', optCtrl = list(rhoend = 1e-12, maxfun = 1e5))",
  rs_reml = fitinfo(rs_reml), rs_ml = fitinfo(update(rs_reml, REML = FALSE)),
  ri_reml = fitinfo(ri_reml), ri_ml = fitinfo(update(ri_reml, REML = FALSE)),
  rs2_reml = fitinfo(rs2_reml), rs2_ml = fitinfo(update(rs2_reml, REML = FALSE)),
  ri2_ml = fitinfo(update(ri2_reml, REML = FALSE)),
  lrt = lrt(rs_reml, ri_reml), lrt2 = lrt(rs2_reml, ri2_reml),
  default = list(rs_reml = fitinfo(lmer(m ~ x + (x | g), data = d)),
                 rs2_reml = fitinfo(lmer(m ~ x + w + (x + w | g), data = d))))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null", null = "null"),
           "random_slope_reference.json")
