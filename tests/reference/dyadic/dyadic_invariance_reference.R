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

syntax <- function(level) {
  k <- match(level, c("configural", "metric", "scalar", "strict")) - 1
  sides <- c("provider", "customer")
  lines <- character(0)
  for (s in sides) {
    terms <- sapply(seq_along(items), function(j) {
      if (j == 1) paste0("1*", items[j], "_", s)
      else paste0(if (k >= 1) paste0("l", j, "*") else "", items[j], "_", s)
    })
    lines <- c(lines, paste0("f_", s, " =~ ", paste(terms, collapse = " + ")))
  }
  lines <- c(lines, "f_provider ~~ f_customer")
  for (it in items) lines <- c(lines, paste0(it, "_provider ~~ ", it, "_customer"))
  for (j in seq_along(items)) for (s in sides) {
    lines <- c(lines, paste0(items[j], "_", s, " ~ ", if (k >= 2) paste0("t", j, "*") else "", "1"))
    if (k >= 3) lines <- c(lines, paste0(items[j], "_", s, " ~~ e", j, "*", items[j], "_", s))
  }
  lines <- c(lines, "f_provider ~ 0*1", paste0("f_customer ~ ", if (k >= 2) "NA*" else "0*", "1"))
  paste(lines, collapse = "\n")
}

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
