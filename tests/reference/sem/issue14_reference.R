# Reference values for tests/test_sem_issue14.py (issue 14), lavaan 0.6-14.
# Run from the repository root:  Rscript tests/reference/sem/issue14_reference.R
# Writes tests/reference/sem/issue14_reference.json and the two data fixtures underid_exact.csv, underid_near.csv.
#
# 1. std.lv = TRUE with a reverse-keyed first indicator: HolzingerSwineford1939 with x1 multiplied by -1,
#    cfa(model_hs, std.lv = TRUE), single group and group = "school": parameterEstimates (est, se, std.all) and
#    modindices (mi, epc, sepc.all).
# 2. Units of the data: x1..x9 multiplied by 0.01, 1e-4, 1e6 (and 1 for the unscaled solution): cfa(model_hs),
#    converged flag, chisq, parameterEstimates (est, se, std.all) and lavaan's warnings. lavaan 0.6-14 itself does
#    not get the rescaled solutions right (0.01: not converged; 1e-4: estimation failed; 1e6: "converged" at
#    chisq 918.9 instead of 85.3), so the tests compare with the unscaled lavaan solution rescaled in closed form
#    (loadings x s, (co)variances x s^2 under the marker identification; std.all and chisq unchanged).
# 3. EM moments of the saturated model with missing data (tests/reference/validate/hs_missing.csv, x1..x9):
#    lavaan:::lav_mvnorm_missing_h1_estimate_moments with a tight tolerance (lavaan's default, tol = 1e-5 on the
#    absolute change, stops early), the same for the data multiplied by 1000 (tol scaled by 1000^2), and
#    lavInspect(fit, "sampstat.h1") of cfa(model_hs, missing = "ml") for comparison (lavaan's default EM); also the
#    FIML fit of the x1000 data, which lavaan gets wrong (chisq 786.4 instead of 54.1, vcov not positive definite).
# 4. Two-factor CFA with two indicators each and (nearly) zero factor covariance (simulated, n = 200):
#    underid_exact.csv: the cross-block covariances are exactly zero (y3, y4 residualised on y1, y2): lavaan
#      returns estimates but warns "Could not compute standard errors! The information matrix could not be
#      inverted";
#    underid_near.csv: the same with a small cross-block covariance (eps = 0.03): empirically under-identified
#      (loading SEs about 2.5), lavaan gives no warning.
suppressPackageStartupMessages({
  library(jsonlite)
  library(lavaan)
})
out_dir <- "tests/reference/sem"
if (!dir.exists(out_dir)) stop("run from the repository root")
HS <- read.csv("tests/reference/validate/HolzingerSwineford1939.csv")
model_hs <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
vars <- paste0("x", 1:9)

capture <- function(expr) {  # the fit and its warnings (lavaan's printed output, if any, is dropped)
  w <- character(0)
  val <- NULL
  junk <- capture.output(val <- withCallingHandlers(expr, warning = function(x) {
    w <<- c(w, conditionMessage(x)); invokeRestart("muffleWarning") }))
  list(value = val, warnings = gsub("\\s+", " ", w))
}
pe <- function(fit) {
  p <- parameterEstimates(fit, standardized = TRUE)
  out <- p[, intersect(c("lhs", "op", "rhs", "group", "est", "se", "std.all"), names(p))]
  out
}
mi <- function(fit) { m <- modindices(fit); m[, intersect(c("lhs", "op", "rhs", "group", "mi", "epc", "sepc.all"),
                                                            names(m))] }

# 1. reverse-keyed first indicator, std.lv = TRUE
rev <- HS
rev$x1 <- -rev$x1
f1 <- cfa(model_hs, data = rev, std.lv = TRUE)
f1g <- cfa(model_hs, data = rev, std.lv = TRUE, group = "school")
reversed <- list(single = list(estimates = pe(f1), modindices = mi(f1)),
                 school = list(estimates = pe(f1g), modindices = mi(f1g)))

# 2. units
units <- list()
for (s in c(1, 0.01, 1e-4, 1e6)) {
  d <- HS
  d[, vars] <- d[, vars] * s
  r <- capture(cfa(model_hs, data = d))
  units[[format(s)]] <- list(scale = s, converged = lavInspect(r$value, "converged"),
                             iterations = lavInspect(r$value, "iterations"),
                             chisq = if (lavInspect(r$value, "converged")) unname(fitMeasures(r$value, "chisq")) else NA,
                             estimates = pe(r$value), warnings = I(r$warnings))
}

# 3. EM moments
HM <- read.csv("tests/reference/validate/hs_missing.csv")
Y <- as.matrix(HM[, vars])
em1 <- lavaan:::lav_mvnorm_missing_h1_estimate_moments(Y, tol = 1e-13, max.iter = 100000L)
em1000 <- lavaan:::lav_mvnorm_missing_h1_estimate_moments(Y * 1000, tol = 1e-13 * 1000^2, max.iter = 100000L)
fm <- cfa(model_hs, data = HM, missing = "ml")
h1 <- lavInspect(fm, "sampstat.h1")
HM1000 <- HM
HM1000[, vars] <- HM1000[, vars] * 1000
r1000 <- capture(cfa(model_hs, data = HM1000, missing = "ml"))
em <- list(mean = unname(em1$Mu), cov = unname(em1$Sigma),
           mean_x1000 = unname(em1000$Mu), cov_x1000 = unname(em1000$Sigma),
           lavaan_h1_mean = unname(h1$mean), lavaan_h1_cov = unname(unclass(h1$cov)),
           fiml = list(chisq = unname(fitMeasures(fm, "chisq")), estimates = pe(fm)),
           fiml_x1000 = list(converged = lavInspect(r1000$value, "converged"),
                             chisq = if (lavInspect(r1000$value, "converged")) unname(fitMeasures(r1000$value, "chisq")) else NA,
                             estimates = pe(r1000$value),
                             warnings = I(r1000$warnings)))

# 4. (nearly) unidentified two-factor model
gen <- function(eps, seed) {
  set.seed(seed); n <- 200
  f1 <- rnorm(n); f2 <- rnorm(n)
  d <- data.frame(y1 = .8 * f1 + rnorm(n, sd = .6), y2 = .8 * f1 + rnorm(n, sd = .6),
                  y3 = .8 * f2 + rnorm(n, sd = .6), y4 = .8 * f2 + rnorm(n, sd = .6))
  d$y3 <- resid(lm(d$y3 ~ d$y1 + d$y2)) + mean(d$y3) + eps * d$y1
  d$y4 <- resid(lm(d$y4 ~ d$y1 + d$y2)) + mean(d$y4) + eps * d$y2
  d
}
model_2x2 <- "f1 =~ y1 + y2\nf2 =~ y3 + y4"
write.csv(gen(0, 1), file.path(out_dir, "underid_exact.csv"), row.names = FALSE)
write.csv(gen(0.03, 2), file.path(out_dir, "underid_near.csv"), row.names = FALSE)
ue <- capture(cfa(model_2x2, data = read.csv(file.path(out_dir, "underid_exact.csv"))))
un <- capture(cfa(model_2x2, data = read.csv(file.path(out_dir, "underid_near.csv"))))
underid <- list(model = model_2x2,
                exact = list(converged = lavInspect(ue$value, "converged"), estimates = pe(ue$value),
                             warnings = I(ue$warnings)),
                near = list(converged = lavInspect(un$value, "converged"), estimates = pe(un$value),
                            warnings = I(un$warnings),
                            vcov_eigen_min = min(eigen(vcov(un$value), only.values = TRUE)$values)))

write_json(list(versions = list(R = R.version.string, lavaan = as.character(packageVersion("lavaan"))),
                model_hs = model_hs, reversed = reversed, units = units, em = em, underid = underid),
           file.path(out_dir, "issue14_reference.json"), digits = NA, pretty = TRUE, auto_unbox = TRUE,
           na = "null")
