# Reference values for vccscale.models.dyadic (APIM, distinguishable dyads) from lavaan 0.6-14.
# Run from this directory:  Rscript apim_reference.R
# Writes dyads_long.csv (one row per respondent: dyad_id, perspective, items, scale scores) and apim_reference.json.
suppressMessages({library(lavaan); library(jsonlite)})
stopifnot(packageVersion("lavaan") == "0.6.14")

set.seed(20240815)
n <- 250
# dyad-level true scores: X correlated across sides (r = .30)
XP <- rnorm(n); XC <- 0.30 * XP + sqrt(1 - 0.30^2) * rnorm(n)
# known actor / partner effects, correlated residuals (r ~ .35)
eP <- rnorm(n); eC <- 0.35 * eP + sqrt(1 - 0.35^2) * rnorm(n)
YP <- 0.50 * XP + 0.20 * XC + 0.8 * eP      # aP = .50, pCP = .20
YC <- 0.30 * XC + 0.25 * XP + 0.8 * eC      # aC = .30, pPC = .25
lam <- c(0.8, 0.7, 0.6)
item <- function(f, j, shared) round(3 + lam[j] * f + 0.35 * shared + 0.5 * rnorm(n), 6)
mk_side <- function(X, Y, sx, sy, side) {
  d <- data.frame(dyad_id = sprintf("D%03d", 1:n), perspective = side)
  for (j in 1:3) d[[paste0("x", j)]] <- item(X, j, sx[, j])
  for (j in 1:3) d[[paste0("y", j)]] <- item(Y, j, sy[, j])
  d$x <- round(rowMeans(d[, c("x1", "x2", "x3")]), 6)
  d$y <- round(rowMeans(d[, c("y1", "y2", "y3")]), 6)
  d
}
# item-specific variance shared by the two sides of a dyad (same wording): correlated item residuals
sx <- matrix(rnorm(n * 3), n); sy <- matrix(rnorm(n * 3), n)
P <- mk_side(XP, YP, sx, sy, "provider")
C <- mk_side(XC, YC, sx, sy, "customer")
long <- rbind(P, C)
long$response_id <- sprintf("R%04d", seq_len(nrow(long)))
long <- long[sample(nrow(long)), c("response_id", "dyad_id", "perspective", "x1", "x2", "x3", "y1", "y2", "y3",
                                   "x", "y")]
write.csv(long, "dyads_long.csv", row.names = FALSE)

# read back (the exact values the Python test sees) and reshape to one row per dyad
long <- read.csv("dyads_long.csv", stringsAsFactors = FALSE)
vars <- c("x1", "x2", "x3", "y1", "y2", "y3", "x", "y")
Pw <- long[long$perspective == "provider", c("dyad_id", vars)]
Cw <- long[long$perspective == "customer", c("dyad_id", vars)]
names(Pw)[-1] <- paste0(vars, "_provider"); names(Cw)[-1] <- paste0(vars, "_customer")
w <- merge(Pw, Cw, by = "dyad_id")
w <- w[order(w$dyad_id), ]

apim_obs <- '
  y_provider ~ aP*x_provider + pCP*x_customer
  y_customer ~ aC*x_customer + pPC*x_provider
  x_provider ~~ x_customer
  y_provider ~~ y_customer
  actor_diff := aP - aC
  partner_diff := pCP - pPC
  k_P := pCP / aP
  k_C := pPC / aC
'
apim_eq <- '
  y_provider ~ a*x_provider + p*x_customer
  y_customer ~ a*x_customer + p*x_provider
  x_provider ~~ x_customer
  y_provider ~~ y_customer
  k := p / a
'
apim_lat <- '
  x_provider_lv =~ lx1*x1_provider + lx2*x2_provider + lx3*x3_provider
  x_customer_lv =~ lx1*x1_customer + lx2*x2_customer + lx3*x3_customer
  y_provider_lv =~ ly1*y1_provider + ly2*y2_provider + ly3*y3_provider
  y_customer_lv =~ ly1*y1_customer + ly2*y2_customer + ly3*y3_customer
  x1_provider ~~ x1_customer
  x2_provider ~~ x2_customer
  x3_provider ~~ x3_customer
  y1_provider ~~ y1_customer
  y2_provider ~~ y2_customer
  y3_provider ~~ y3_customer
  y_provider_lv ~ aP*x_provider_lv + pCP*x_customer_lv
  y_customer_lv ~ aC*x_customer_lv + pPC*x_provider_lv
  x_provider_lv ~~ x_customer_lv
  y_provider_lv ~~ y_customer_lv
  actor_diff := aP - aC
  partner_diff := pCP - pPC
  k_P := pCP / aP
  k_C := pPC / aC
'
pe_list <- function(fit) {
  pe <- parameterEstimates(fit, standardized = TRUE)
  list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, label = pe$label, est = pe$est, se = pe$se, z = pe$z,
       pvalue = pe$pvalue, std_all = pe$std.all)
}
fm_names <- c("npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "logl", "aic", "bic")
res <- list(lavaan = as.character(packageVersion("lavaan")), n = nrow(w))
for (nm in c("obs_ml", "obs_mlr", "eq_ml", "lat_ml")) {
  model <- switch(nm, obs_ml = apim_obs, obs_mlr = apim_obs, eq_ml = apim_eq, lat_ml = apim_lat)
  est <- if (nm == "obs_mlr") "MLR" else "ML"
  fit <- sem(model, data = w, estimator = est)
  fm <- fitMeasures(fit)
  res[[nm]] <- list(model = model, estimator = est, estimates = pe_list(fit),
                    fit = as.list(fm[intersect(fm_names, names(fm))]))
}
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, null = "null", na = "null", pretty = TRUE),
           "apim_reference.json")
cat("done\n")
