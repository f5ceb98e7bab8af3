# Reference values for vccscale.models.multilevel from multilevel 2.7, lme4 1.1-31 and psych.
# Run from this directory:  Rscript multilevel_reference.R
# Writes multilevel_data.csv and multilevel_reference.json.
suppressMessages({library(multilevel); library(lme4); library(psych); library(jsonlite)})
stopifnot(packageVersion("multilevel") == "2.7", packageVersion("lme4") == "1.1.31")

## ------------------------------------------------------------------ data
set.seed(20240808)
G <- 60
sizes <- sample(3:9, G, replace = TRUE)
g <- rep(seq_len(G), sizes)
N <- length(g)
u <- rnorm(G, 0, 0.8)                       # between-group variance in the true scores
theta <- 4 + u[g] + rnorm(N, 0, 0.9)
likert <- function(v) pmin(7, pmax(1, round(v)))
items <- sapply(1:5, function(j) likert(theta + rnorm(N, 0, 0.8)))
colnames(items) <- paste0("a", 1:5)
# level-1 predictor and outcome with a random slope
x <- round(rnorm(N), 4)
b0 <- rnorm(G, 0, 0.7); b1 <- rnorm(G, 0, 0.35)
y <- round(1 + b0[g] + (0.5 + b1[g]) * x + rnorm(N, 0, 1), 4)
d <- data.frame(g = g, items, x = x, y = y)
write.csv(d, "multilevel_data.csv", row.names = FALSE)
d$mean <- rowMeans(d[, paste0("a", 1:5)])

## ------------------------------------------------------------------ ICC(1), ICC(2) (Bliese 2000)
mod <- aov(mean ~ as.factor(g), data = d)
tab <- summary(mod)[[1]]
MSB <- tab[1, 3]; MSW <- tab[2, 3]
nbar <- N / G
kadj <- (N - sum(sizes^2) / N) / (G - 1)
icc <- list(icc1 = ICC1(mod), icc2 = ICC2(mod), msb = MSB, msw = MSW, df_between = tab[1, 1],
            df_within = tab[2, 1], F = tab[1, 4], p = tab[1, 5], mean_group_size = nbar, k_adjusted = kadj,
            icc1_mean_k = (MSB - MSW) / (MSB + (nbar - 1) * MSW),
            icc1_adjusted_k = (MSB - MSW) / (MSB + (kadj - 1) * MSW))
mod1 <- aov(a1 ~ as.factor(g), data = d)
icc_a1 <- list(icc1 = ICC1(mod1), icc2 = ICC2(mod1))

## psych::ICC on a balanced subset (first 3 members of every group: groups = targets, members = "raters");
## for balanced data Bliese ICC(1) = Shrout-Fleiss ICC1 and ICC(2) = ICC1k
bal <- do.call(rbind, lapply(split(d$mean, d$g), function(v) v[1:3]))
pic <- psych::ICC(bal, lmer = FALSE)$results
db <- data.frame(g = rep(seq_len(G), each = 3), mean = as.vector(t(bal)))
modb <- aov(mean ~ as.factor(g), data = db)
psych_icc <- list(ICC1 = pic$ICC[1], ICC1k = pic$ICC[4], bliese_icc1 = ICC1(modb), bliese_icc2 = ICC2(modb))

## ------------------------------------------------------------------ rwg, rwg(j), AD
A <- 7
su <- (A^2 - 1) / 12
r1 <- rwg(d$a1, d$g, ranvar = su)
r1s <- rwg(d$a1, d$g, ranvar = 2.90)       # slightly skewed null, 7 points (LeBreton & Senter 2008)
rj <- rwg.j(d[, paste0("a", 1:5)], d$g, ranvar = su)
rjs <- rwg.j(d[, paste0("a", 1:5)], d$g, ranvar = 2.90)
# by hand (James, Demaree & Wolf 1984), untruncated
sp <- split(d[, paste0("a", 1:5)], d$g)
s2 <- sapply(sp, function(Q) mean(apply(Q, 2, var)))
rwgj_hand <- (5 * (1 - s2 / su)) / (5 * (1 - s2 / su) + s2 / su)
rwg_hand <- 1 - sapply(split(d$a1, d$g), var) / su
adm <- ad.m(d[, paste0("a", 1:5)], d$g, type = "mean")
admed <- ad.m(d[, paste0("a", 1:5)], d$g, type = "median")
ad1 <- ad.m(d$a1, d$g, type = "mean")
agree <- list(group = as.integer(as.character(rj$grpid)), gsize = rj$gsize,
              rwg_a1 = r1$rwg, rwg_a1_slight = r1s$rwg, rwg_j = rj$rwg.j, rwg_j_slight = rjs$rwg.j,
              rwg_j_hand = unname(rwgj_hand), rwg_a1_hand = unname(rwg_hand), mean_item_var = unname(s2),
              ad_mean = adm$AD.M, ad_median = admed$AD.M, ad_a1 = ad1$AD.M)

## ------------------------------------------------------------------ lme4
vc <- function(fit) {
  v <- as.data.frame(VarCorr(fit))
  fe <- summary(fit)$coefficients
  list(var = setNames(as.list(v$vcov), paste(v$grp, v$var1, ifelse(is.na(v$var2), "", v$var2), sep = "|")),
       fixef = as.list(fe[, 1]), se = as.list(fe[, 2]), logLik = as.numeric(logLik(fit)),
       df = attr(logLik(fit), "df"), AIC = AIC(fit), BIC = BIC(fit), nobs = nobs(fit),
       singular = isSingular(fit))
}
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
ri_reml <- lmer(mean ~ 1 + (1 | g), data = d, REML = TRUE, control = ctrl)
ri_ml <- lmer(mean ~ 1 + (1 | g), data = d, REML = FALSE, control = ctrl)
rs_reml <- lmer(y ~ x + (x | g), data = d, REML = TRUE, control = ctrl)
rs_ml <- lmer(y ~ x + (x | g), data = d, REML = FALSE, control = ctrl)
lmer_out <- list(ri_reml = vc(ri_reml), ri_ml = vc(ri_ml), rs_reml = vc(rs_reml), rs_ml = vc(rs_ml))

out <- list(versions = list(R = as.character(getRversion()), multilevel = as.character(packageVersion("multilevel")),
                            lme4 = as.character(packageVersion("lme4")), psych = as.character(packageVersion("psych"))),
            N = N, G = G, sigma2_uniform = su, icc = icc, icc_a1 = icc_a1, psych_icc = psych_icc,
            agreement = agree, lmer = lmer_out)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"), "multilevel_reference.json")
