# Reference values for vccscale.validate.measurement_quality (tests/test_measurement_quality.py).
#
# Run from the repository root:
#     Rscript tests/reference/validate/measurement_quality_reference.R
# It writes tests/reference/validate/measurement_quality_reference.json: for the HolzingerSwineford1939 3-factor
# CFA and the same model with x9 also loading on visual (a cross-loading), semTools compRelSEM and AVE with
# model-implied variances (obs.var = FALSE, the Fornell & Larcker 1981 convention, vccscale's default) and with
# observed variances (obs.var = TRUE, semTools' default), psych alpha per factor, semTools htmt (htmt2, the
# 0.5-6 default; not defined for the cross-loading model) and the latent correlations (lavInspect "cor.lv").
# 15 significant digits, NA -> null.

suppressPackageStartupMessages({library(jsonlite); library(lavaan); library(semTools); library(psych)})
out_dir <- "tests/reference/validate"
if (!dir.exists(out_dir)) stop("run from the repository root")
hs <- read.csv(file.path(out_dir, "HolzingerSwineford1939.csv"))
num <- function(x) { nm <- names(x); x <- as.numeric(x); x[!is.finite(x)] <- NA; names(x) <- nm; as.list(x) }
models <- list(
  three = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n",
  cross = "visual =~ x1 + x2 + x3 + x9\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n")
out <- list(versions = list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                            semTools = as.character(packageVersion("semTools")),
                            psych = as.character(packageVersion("psych"))))
for (nm in names(models)) {
  m <- models[[nm]]
  fit <- cfa(m, hs)
  pt <- parameterEstimates(fit)
  blocks <- split(pt$rhs[pt$op == "=~"], pt$lhs[pt$op == "=~"])
  alpha <- sapply(blocks, function(it) psych::alpha(hs[, it], warnings = FALSE)$total$raw_alpha)
  h <- tryCatch(htmt(m, hs), error = function(e) NULL)
  cl <- lavInspect(fit, "cor.lv")
  out[[nm]] <- list(
    model = m,
    cr_implied = num(compRelSEM(fit, obs.var = FALSE)), cr_observed = num(compRelSEM(fit, obs.var = TRUE)),
    ave_implied = num(AVE(fit, obs.var = FALSE)), ave_observed = num(AVE(fit, obs.var = TRUE)),
    alpha = num(alpha),
    htmt = if (is.null(h)) NULL else list(rownames = rownames(h), values = unname(as.matrix(unclass(h)))),
    cor_lv = list(rownames = rownames(cl), values = unname(as.matrix(unclass(cl)))))
}
writeLines(toJSON(out, digits = 15, auto_unbox = TRUE, null = "null", na = "null", pretty = TRUE),
           file.path(out_dir, "measurement_quality_reference.json"))
