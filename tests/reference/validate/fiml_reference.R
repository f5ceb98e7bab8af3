# FIML (lavaan missing = "ml") reference values for tests/test_sem_fiml.py.
#
# Run from the repository root:
#     Rscript tests/reference/validate/fiml_reference.R
# Writes, in tests/reference/validate/:
#   hs_missing.csv  HolzingerSwineford1939.csv with values deleted (set.seed(11)): about 10% MCAR in each of
#                   x1..x9, then a MAR pattern on x7 (deleted with probability .40 when the observed x1 is above
#                   its median, .05 otherwise); NA written as an empty field.
#   hs_fiml.json    cfa(model_hs, data = hs_missing, missing = "ml") for estimator ML and MLR:
#                   fitMeasures (selection), parameterEstimates(standardized = TRUE) (est, se, std.all),
#                   nobs / number of missing-data patterns.
suppressPackageStartupMessages({
  library(jsonlite)
  library(lavaan)
})
out_dir <- "tests/reference/validate"
if (!dir.exists(out_dir)) stop("run from the repository root")

HS <- read.csv(file.path(out_dir, "HolzingerSwineford1939.csv"))
vars <- paste0("x", 1:9)
set.seed(11)
n <- nrow(HS)
M <- matrix(runif(n * 9) < 0.10, n, 9)
for (j in seq_along(vars)) HS[M[, j], vars[j]] <- NA
x1_obs <- HS$x1
above <- !is.na(x1_obs) & x1_obs > median(x1_obs, na.rm = TRUE)
p7 <- ifelse(above, 0.40, 0.05)
HS$x7[runif(n) < p7] <- NA
write.csv(HS, file.path(out_dir, "hs_missing.csv"), row.names = FALSE, na = "")

num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }
hs_model <- ' visual =~ x1 + x2 + x3 \n textual =~ x4 + x5 + x6 \n speed =~ x7 + x8 + x9 '
dat <- read.csv(file.path(out_dir, "hs_missing.csv"))
fm_names <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr",
              "logl", "unrestricted.logl", "aic", "bic", "npar", "baseline.chisq", "baseline.df")
one <- function(estimator) {
  fit <- cfa(hs_model, data = dat, missing = "ml", estimator = estimator)
  nm <- fm_names
  if (estimator == "MLR")
    nm <- c(nm, "chisq.scaled", "chisq.scaling.factor", "cfi.robust", "tli.robust", "rmsea.robust")
  fm <- fitMeasures(fit, nm)
  pe <- parameterEstimates(fit, standardized = TRUE)
  pe <- data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = num(pe$est), se = num(pe$se),
                   std.all = num(pe$std.all), stringsAsFactors = FALSE)
  list(fit_measures = as.list(setNames(num(fm), names(fm))), parameter_estimates = pe,
       nobs = lavInspect(fit, "nobs"), npatterns = length(lavInspect(fit, "patterns")[, 1]),
       options = lavInspect(fit, "options")[c("missing", "information", "se", "test", "meanstructure")])
}
out <- list(
  call = "cfa(model_hs, data = hs_missing, missing = 'ml', estimator = EST)",
  model = hs_model,
  n_rows = nrow(dat),
  ML = one("ML"),
  MLR = one("MLR"),
  versions = list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")))
)
txt <- toJSON(out, digits = NA, na = "null", null = "null", auto_unbox = TRUE, dataframe = "rows", pretty = FALSE)
writeLines(txt, file.path(out_dir, "hs_fiml.json"), useBytes = TRUE)
cat("wrote hs_missing.csv, hs_fiml.json\n")
