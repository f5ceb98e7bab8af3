# Reference: model-implied moments lavaan::simulateData uses (lavaan 0.6-14), standardized = FALSE and TRUE.
# Run: Rscript tests/reference/power/simulatedata_moments.R  (writes simulatedata_moments.json beside it)
suppressMessages(library(lavaan))
library(jsonlite)
models <- list(
  sem3 = "f1 =~ 0.7*x1 + 0.7*x2 + 0.7*x3
f2 =~ 0.7*x4 + 0.6*x5 + 0.5*x6
f2 ~ 0.4*f1
y ~ 0.3*f2 + 0.2*z",
  unspecified = "f =~ x1 + 0.8*x2 + x3
y ~ 0.5*f",
  mediation = "m ~ 0.39*x
y ~ 0.39*m + 0.1*x",
  means = "f =~ 1*x1 + 0.8*x2 + 0.6*x3
x1 ~ 2*1
f ~~ 0.5*f"
)
out <- list(lavaan = as.character(packageVersion("lavaan")))
for (nm in names(models)) {
  for (std in c(FALSE, TRUE)) {
    if (std && nm == "means") next
    d <- suppressWarnings(simulateData(models[[nm]], sample.nobs = 10L, seed = 1, standardized = std,
                                       return.fit = TRUE))
    fit <- attr(d, "fit")
    imp <- lavInspect(fit, "implied")
    S <- imp$cov
    mu <- if (is.null(imp$mean)) rep(0, nrow(S)) else as.numeric(imp$mean)
    out[[paste0(nm, if (std) "_std" else "")]] <- list(model = models[[nm]], standardized = std,
      names = colnames(S), cov = unname(as.matrix(unclass(S))), mean = mu)
  }
}
here <- tryCatch(dirname(sys.frame(1)$ofile), error = function(e) "tests/reference/power")
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path("tests/reference/power", "simulatedata_moments.json"))
