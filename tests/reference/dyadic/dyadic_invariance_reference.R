# Reference values for vccscale.models.dyadic.dyadic_invariance (provider-customer measurement equivalence within
# distinguishable dyads; Kenny, Kashy & Cook 2006, ch. 6) from lavaan 0.6-14.
# Run from this directory:  Rscript dyadic_invariance_reference.R
# Reads dyads_long.csv (written by apim_reference.R); writes dyadic_invariance_reference.json:
#   for estimator ML and MLR, per level (configural, metric, scalar, strict): the syntax, fitMeasures, and
#   lavTestLRT(previous, this) (standard for ML, satorra.bentler.2001 for MLR); at the scalar level the
#   parameterEstimates row of the customer factor's latent mean.
suppressMessages({library(lavaan); library(jsonlite)})
stopifnot(packageVersion("lavaan") == "0.6.14")

long <- read.csv("dyads_long.csv", stringsAsFactors = FALSE)
items <- c("x1", "x2", "x3")
Pw <- long[long$perspective == "provider", c("dyad_id", items)]
Cw <- long[long$perspective == "customer", c("dyad_id", items)]
names(Pw)[-1] <- paste0(items, "_provider"); names(Cw)[-1] <- paste0(items, "_customer")
wide <- merge(Pw, Cw, by = "dyad_id")

source("dyadic_syntax.R")

keys <- c("npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "chisq.scaled", "chisq.scaling.factor",
          "cfi.robust", "rmsea.robust")
out <- list()
for (est in c("ML", "MLR")) {
  res <- list(); prev <- NULL
  for (lv in c("configural", "metric", "scalar", "strict")) {
    fit <- cfa(syntax(lv), data = wide, estimator = est)
    fm <- fitMeasures(fit)
    r <- list(syntax = syntax(lv), fit = as.list(fm[intersect(keys, names(fm))]))
    if (!is.null(prev)) {
      lrt <- lavTestLRT(prev, fit)
      r$lrt <- list(chisq_diff = lrt[2, "Chisq diff"], df_diff = lrt[2, "Df diff"], pvalue = lrt[2, "Pr(>Chisq)"])
    }
    if (lv == "scalar") {
      pe <- parameterEstimates(fit)
      m <- pe[pe$lhs == "f_customer" & pe$op == "~1", ]
      r$latent_mean <- list(est = m$est, se = m$se, z = m$z, pvalue = m$pvalue)
    }
    res[[lv]] <- r; prev <- fit
  }
  out[[est]] <- res
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "dyadic_invariance_reference.json")
