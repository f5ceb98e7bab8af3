# Reference values for vccscale.models.dyadic.dyadic_invariance with missing = "fiml" (lavaan missing = "ml"):
# dyads with missing answers and dyads where only one side responded are kept (Kenny, Kashy & Cook 2006: FIML
# on the pair data). lavaan 0.6-14.
# Run from this directory:  Rscript dyadic_fiml_reference.R
# Reads dyads_long.csv (written by apim_reference.R) and deletes, in the long file (one row per respondent, rows
# numbered 1.. in file order, items x1..x3 numbered 1..3):
#   - answer (row r, item j) where (37 r + 11 j) %% 23 < 4   (about 17% of the answers)
#   - the customer rows of dyads D001-D020 and the provider rows of D021-D030 (one side did not respond)
# then pairs the two sides by dyad_id keeping unmatched dyads (merge all = TRUE) and fits the dyadic CFA of
# dyadic_syntax.R (as dyadic_invariance_reference.R) at the configural, metric and scalar levels with
# missing = "ml" (ML and MLR).
# Writes dyadic_fiml_reference.json: per estimator and level the fitMeasures, lavTestLRT against the previous
# level, n (lavInspect nobs) and, at the scalar level, the customer factor's latent mean.
suppressMessages({library(lavaan); library(jsonlite)})
stopifnot(packageVersion("lavaan") == "0.6.14")

long <- read.csv("dyads_long.csv", stringsAsFactors = FALSE)
items <- c("x1", "x2", "x3")
r <- seq_len(nrow(long))
for (j in seq_along(items)) long[(37 * r + 11 * j) %% 23 < 4, items[j]] <- NA
gone <- (long$perspective == "customer" & long$dyad_id %in% sprintf("D%03d", 1:20)) |
        (long$perspective == "provider" & long$dyad_id %in% sprintf("D%03d", 21:30))
long <- long[!gone, ]
Pw <- long[long$perspective == "provider", c("dyad_id", items)]
Cw <- long[long$perspective == "customer", c("dyad_id", items)]
names(Pw)[-1] <- paste0(items, "_provider"); names(Cw)[-1] <- paste0(items, "_customer")
wide <- merge(Pw, Cw, by = "dyad_id", all = TRUE)
wide <- wide[order(wide$dyad_id), ]

source("dyadic_syntax.R")

keys <- c("npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "chisq.scaled", "chisq.scaling.factor",
          "cfi.robust", "rmsea.robust")
out <- list(n_dyads = nrow(wide), n_both = sum(!(wide$dyad_id %in% sprintf("D%03d", 1:30))),
            n_missing_answers = sum(is.na(long[, items])))
for (est in c("ML", "MLR")) {
  res <- list(); prev <- NULL
  for (lv in c("configural", "metric", "scalar")) {
    fit <- cfa(syntax(lv), data = wide, estimator = est, missing = "ml")
    fm <- fitMeasures(fit)
    r <- list(syntax = syntax(lv), n = lavInspect(fit, "nobs"), fit = as.list(fm[intersect(keys, names(fm))]))
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
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "dyadic_fiml_reference.json")
