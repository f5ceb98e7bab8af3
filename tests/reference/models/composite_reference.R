# Reference for formative composites as single-indicator latent variables (vccscale.models.library):
# the composite score is the unit-weighted mean of the sub-activity scale means (a block mean needs at least half
# of its items answered; the score is missing when a block mean is), modelled as comp =~ 1*score, score ~~ 0*score.
# Run from the repository root: Rscript tests/reference/models/composite_reference.R  (lavaan 0.6-14)
library(lavaan); library(jsonlite)
d <- read.csv("tests/reference/models/composite_data.csv")
block <- function(cols) {
  x <- d[, cols]
  m <- rowMeans(x, na.rm = TRUE)
  m[rowSums(!is.na(x)) < ceiling(0.5 * length(cols))] <- NA
  m
}
risk <- block(grep("^b_p2_vk_delivery_risk_", names(d), value = TRUE))
perf <- block(grep("^b_p2_vk_perf_indicators_", names(d), value = TRUE))
d$b_p2_vk_profit_formula_score <- (risk + perf) / 2
inertia <- paste(grep("^b_revenue_model_inertia_", names(d), value = TRUE), collapse = " + ")
m <- paste0("b_revenue_model_inertia =~ ", inertia, "\n",
            "b_p2_vk_profit_formula =~ 1*b_p2_vk_profit_formula_score\n",
            "b_p2_vk_profit_formula_score ~~ 0*b_p2_vk_profit_formula_score\n",
            "b_p2_vk_profit_formula ~ p1*b_revenue_model_inertia\n")
fit <- sem(m, d, missing = "ml")
pe <- parameterEstimates(fit, standardized = TRUE)
p <- pe[pe$label == "p1", ]
out <- list(model = m, score_head = head(d$b_p2_vk_profit_formula_score, 10),
            n_score = sum(!is.na(d$b_p2_vk_profit_formula_score)),
            path = list(est = p$est, se = p$se, pvalue = p$pvalue, std_all = p$std.all),
            fit = as.list(fitMeasures(fit, c("chisq", "df", "npar"))), nobs = lavInspect(fit, "nobs"))
write_json(out, "tests/reference/models/composite_reference.json", digits = NA, pretty = TRUE, auto_unbox = TRUE)
