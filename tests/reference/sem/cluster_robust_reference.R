# Cluster-robust standard errors and tests for single-level models (lavaan `cluster =`), lavaan 0.6-14.
#
# Run from the repository root:
#     Rscript tests/reference/sem/cluster_robust_reference.R
# Writes, in tests/reference/sem/:
#   demo_twolevel.csv   lavaan's Demo.twolevel (2500 rows, 200 clusters), write.csv(Demo.twolevel, row.names = FALSE)
#                       (also read by the two-level model's tests).
#   cluster_robust_reference.json
#     cfa_mlr:     cfa(model_cfa, Demo.twolevel, cluster = "cluster", estimator = "MLR")
#     sem_mlr:     sem(model_sem, Demo.twolevel, cluster = "cluster", estimator = "MLR")  (fixed.x covariates)
#     cfa_ml:      cfa(model_cfa, ..., cluster = "cluster", estimator = "ML") (lavaan: se = "robust.cluster" and
#                  test = c("standard", "yuan.bentler.mplus"), the scaled test with the h1-based observed
#                  information)
#     groups_mlr:  cfa(model_cfa, ..., cluster = "cluster", group = "g", estimator = "MLR") with
#                  g = ifelse(cluster %% 2 == 1, "odd", "even") (clusters nested in the groups)
#     metric_mlr:  the same with group.equal = "loadings", and lavTestLRT(metric, configural) (satorra.bentler.2001)
#     fiml_mlr:    cfa(model_cfa, d_na, cluster = "cluster", estimator = "MLR", missing = "ml") where d_na is
#                  Demo.twolevel with y1 deleted in the rows 10, 20, ..., 2500 and y4 in the rows 7, 27, 47, ...
#   For each: fitMeasures(fit) (all), parameterEstimates (est, se, z, pvalue), options se / test, nclusters.
suppressPackageStartupMessages({
  library(jsonlite)
  library(lavaan)
})
out_dir <- "tests/reference/sem"
if (!dir.exists(out_dir)) stop("run from the repository root")
stopifnot(packageVersion("lavaan") == "0.6.14")

D <- Demo.twolevel
write.csv(Demo.twolevel, file.path(out_dir, "demo_twolevel.csv"), row.names = FALSE)

model_cfa <- "fw =~ y1 + y2 + y3\nfb =~ y4 + y5 + y6"
model_sem <- "fw =~ y1 + y2 + y3\nfw ~ x1 + x2"

pack <- function(fit) {
  fm <- fitMeasures(fit)
  pe <- parameterEstimates(fit)
  keep <- c("lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue")
  pe <- pe[, intersect(keep, names(pe))]
  o <- lavInspect(fit, "options")
  nc <- sapply(fit@Data@Lp, function(lp) lp$nclusters[[2]])
  list(fit = as.list(fm), estimates = pe, se = o$se, test = o$test,
       nclusters = nc, nobs = unlist(lavInspect(fit, "nobs")))
}

out <- list(model_cfa = model_cfa, model_sem = model_sem, lavaan = as.character(packageVersion("lavaan")))
out$cfa_mlr <- pack(cfa(model_cfa, D, cluster = "cluster", estimator = "MLR"))
out$sem_mlr <- pack(sem(model_sem, D, cluster = "cluster", estimator = "MLR"))
out$cfa_ml <- pack(cfa(model_cfa, D, cluster = "cluster", estimator = "ML"))

DG <- D
DG$g <- ifelse(DG$cluster %% 2 == 1, "odd", "even")
conf <- cfa(model_cfa, DG, cluster = "cluster", group = "g", estimator = "MLR")
metric <- cfa(model_cfa, DG, cluster = "cluster", group = "g", estimator = "MLR", group.equal = "loadings")
out$groups_mlr <- pack(conf)
out$metric_mlr <- pack(metric)
lrt <- lavTestLRT(conf, metric)
out$metric_lrt <- list(chisq_diff = lrt[2, "Chisq diff"], df_diff = lrt[2, "Df diff"],
                       pvalue = lrt[2, "Pr(>Chisq)"], method = attr(lrt, "heading"))

DN <- D
DN$y1[seq(10, nrow(DN), by = 10)] <- NA
DN$y4[seq(7, nrow(DN), by = 20)] <- NA
out$fiml_mlr <- pack(cfa(model_cfa, DN, cluster = "cluster", estimator = "MLR", missing = "ml"))

txt <- toJSON(out, digits = NA, na = "null", null = "null", auto_unbox = TRUE, pretty = TRUE, dataframe = "rows")
writeLines(txt, file.path(out_dir, "cluster_robust_reference.json"))
