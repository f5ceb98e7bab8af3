# MLR with FIML (lavaan estimator = "MLR", missing = "ml"): the scaled and robust fit measures, lavaan 0.6-14.
#
# Run from the repository root:
#     Rscript tests/reference/sem/fiml_robust_reference.R
# Writes, in tests/reference/sem/:
#   hs_mar.csv               HolzingerSwineford1939 (school, x1..x9) with 13.5% of the x values deleted at
#                            random (MAR, set.seed(14)): x1, x4, x7 stay complete; x2, x3 are deleted with a
#                            probability that rises with x1 (logistic, about 20% each), x5, x6 with x4, x8, x9 with
#                            x7; NA written as an empty field. 301 rows, none empty.
#   fiml_robust_reference.json
#     one_group:  cfa(model_hs, hs_mar, estimator = "MLR", missing = "ml"): fitMeasures(fit) (all) and the parts
#                 of lavaan's FIML-corrected robust measures, lavaan:::lav_fit_fiml_corrected(fit, "V3")
#                 (XX3 = ML chi-square of the estimates against the EM (h1) moments, c.hat3, and the same for the
#                 baseline model); the robust CFI/TLI/RMSEA for missing = "ml" are computed from these
#                 (lav_fit_cfi_lavobject / lav_fit_rmsea_lavobject, Savalei 2018; Zhang & Savalei 2023).
#     one_group_ml: the same with estimator = "ML" (lavaan reports the robust measures then too, version "V6").
#     groups:     the same model in two groups (group = "school") at the levels configural, metric
#                 (group.equal = "loadings") and scalar (+ "intercepts"), MLR, missing = "ml": fitMeasures and
#                 lavTestLRT(less, more) (method satorra.bentler.2001, lavaan's default for MLR).
#     covariates: sem("f =~ x7 + x8 + x9; f ~ x1 + x4", hs_na2.csv (fiml_fixedx_reference.R), estimator = "MLR",
#                 missing = "ml") with fixed.x = TRUE (cases with a missing covariate deleted) and FALSE:
#                 fitMeasures and lav_fit_fiml_corrected(fit, "V3").
#     saturated:  cfa("f =~ x1 + x2 + x3", hs_mar, estimator = "MLR", missing = "ml") (df = 0: c.hat3 = k / 0 is
#                 Inf, and the robust measures are those of a perfect fit, without a warning): fitMeasures.
suppressPackageStartupMessages({
  library(jsonlite)
  library(lavaan)
})
out_dir <- "tests/reference/sem"
if (!dir.exists(out_dir)) stop("run from the repository root")

HS <- read.csv("tests/reference/validate/HolzingerSwineford1939.csv")
HS <- HS[, c("school", paste0("x", 1:9))]
set.seed(14)
n <- nrow(HS)
drop_by <- function(v, x) {
  z <- as.numeric(scale(x))
  p <- plogis(-1.75 + 1.0 * z)  # about 18% on average, more for high x
  HS[[v]][runif(n) < p] <<- NA
}
drop_by("x2", HS$x1); drop_by("x3", HS$x1)
drop_by("x5", HS$x4); drop_by("x6", HS$x4)
drop_by("x8", HS$x7); drop_by("x9", HS$x7)
write.csv(HS, file.path(out_dir, "hs_mar.csv"), row.names = FALSE, na = "")
dat <- read.csv(file.path(out_dir, "hs_mar.csv"))

num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }
fm <- function(fit) { f <- fitMeasures(fit); as.list(setNames(num(f), names(f))) }
parts <- function(fit, version) {
  r <- lavaan:::lav_fit_fiml_corrected(fit, version = version)
  lapply(r, num)
}
model_hs <- " visual =~ x1 + x2 + x3 \n textual =~ x4 + x5 + x6 \n speed =~ x7 + x8 + x9 "

fit1 <- cfa(model_hs, data = dat, estimator = "MLR", missing = "ml")
fit0 <- cfa(model_hs, data = dat, estimator = "ML", missing = "ml")
lev <- list(configural = "", metric = "loadings", scalar = c("loadings", "intercepts"))
gfits <- lapply(lev, function(ge) cfa(model_hs, data = dat, estimator = "MLR", missing = "ml", group = "school",
                                      group.equal = ge))
lrt <- function(a, b) {
  t <- lavTestLRT(b, a)  # a less constrained, b more constrained
  list(chisq_diff = num(t[2, "Chisq diff"]), df_diff = num(t[2, "Df diff"]), pvalue = num(t[2, "Pr(>Chisq)"]))
}
d2 <- read.csv(file.path(out_dir, "hs_na2.csv"))
m2 <- "f =~ x7 + x8 + x9\n f ~ x1 + x4"
cov_fit <- function(fx) {
  fit <- suppressWarnings(sem(m2, d2, estimator = "MLR", missing = "ml", fixed.x = fx))
  list(fit = fm(fit), fiml_corrected = parts(fit, "V3"), nobs = lavInspect(fit, "nobs"))
}
out <- list(
  model = model_hs,
  n_rows = nrow(dat),
  missing_share = mean(is.na(dat[, paste0("x", 1:9)])),
  one_group = list(fit = fm(fit1), fiml_corrected = parts(fit1, "V3"), nobs = lavInspect(fit1, "nobs")),
  one_group_ml = list(fit = fm(fit0), fiml_corrected = parts(fit0, "V6")),
  groups = list(
    group = "school", group_labels = lavInspect(gfits$configural, "group.label"),
    fit = lapply(gfits, fm),
    fiml_corrected = lapply(gfits, parts, version = "V3"),
    lrt = list(metric = lrt(gfits$configural, gfits$metric), scalar = lrt(gfits$metric, gfits$scalar))
  ),
  saturated = list(model = "f =~ x1 + x2 + x3",
                   fit = fm(cfa("f =~ x1 + x2 + x3", data = dat, estimator = "MLR", missing = "ml"))),
  covariates = list(model = m2, fixed_x = cov_fit(TRUE), random_x = cov_fit(FALSE)),
  versions = list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")))
)
txt <- toJSON(out, digits = NA, na = "null", null = "null", auto_unbox = TRUE, pretty = TRUE)
writeLines(txt, file.path(out_dir, "fiml_robust_reference.json"), useBytes = TRUE)
cat("wrote hs_mar.csv, fiml_robust_reference.json\n")
