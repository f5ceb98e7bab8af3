# FIML with random covariates (lavaan missing = "ml", fixed.x = FALSE) on HolzingerSwineford1939 with 30 missing
# values in each of the covariates x1 and x4; also the complete-case fit with fixed.x = FALSE.
# Run: Rscript tests/reference/sem/fiml_fixedx_reference.R  (lavaan 0.6-14)
library(lavaan); library(jsonlite)
d <- read.csv("tests/reference/validate/HolzingerSwineford1939.csv")
set.seed(1)
d$x1[sample(nrow(d), 30)] <- NA
d$x4[sample(nrow(d), 30)] <- NA
write.csv(d[, c("x1","x4","x7","x8","x9")], "tests/reference/sem/hs_na.csv", row.names = FALSE)
m <- "f =~ x7 + x8 + x9\n f ~ x1 + x4"
keys <- c("chisq","df","npar","logl","cfi","tli","rmsea","srmr","baseline.chisq","aic","bic")
fit <- sem(m, d, missing = "ml", fixed.x = FALSE)
fit2 <- sem(m, na.omit(d[, c("x1","x4","x7","x8","x9")]), fixed.x = FALSE)
pe <- function(f) { p <- parameterEstimates(f); p[, c("lhs","op","rhs","est","se")] }
# FIML with fixed covariates (lavaan's default fixed.x = TRUE): cases with a missing covariate are deleted, the
# likelihood is that of the other variables given the covariates; 25 missing values added in x7 and x8.
set.seed(2)
d2 <- d
d2$x7[sample(nrow(d2), 25)] <- NA
d2$x8[sample(nrow(d2), 25)] <- NA
write.csv(d2[, c("x1","x4","x7","x8","x9")], "tests/reference/sem/hs_na2.csv", row.names = FALSE)
fit3 <- sem(m, d2, missing = "ml", fixed.x = TRUE)
# A covariance of two random covariates fixed by the model (x1 ~~ 0*x4, as vccscale fixes covariates no respondent
# answered together): lavaan's baseline model keeps it fixed (baseline df one higher than with it free).
fit4 <- sem(paste0(m, "\n x1 ~~ 0*x4"), d, missing = "ml", fixed.x = FALSE)
write_json(list(fiml = list(fit = as.list(fitMeasures(fit, keys)), estimates = pe(fit)),
                fixed_cov = list(fit = as.list(fitMeasures(fit4, keys)), estimates = pe(fit4),
                                 baseline_df = fitMeasures(fit4, "baseline.df")),
                complete = list(fit = as.list(fitMeasures(fit2, keys)), estimates = pe(fit2)),
                fiml_fixed = list(fit = as.list(fitMeasures(fit3, keys)), estimates = pe(fit3),
                                  nobs = lavInspect(fit3, "nobs"))),
           "tests/reference/sem/fiml_fixedx_reference.json", digits = NA, pretty = TRUE)
