# Satorra-Bentler (2010) strictly positive scaled difference test: lavTestLRT(..., method = "satorra.bentler.2010")
# (lavaan 0.6-14). Run from the repository root: Rscript tests/reference/sem/sb2010_reference.R
# Writes tests/reference/sem/sb2010_reference.json with, per case, both models' chisq, df, scaling factor and
# lavTestLRT's Chisq diff, Df diff, Pr(>Chisq) for satorra.bentler.2001 and satorra.bentler.2010.
#   metric: HolzingerSwineford1939 by school, MLR, configural vs equal loadings
#   fiml:   the same with 8% of x1-x9 set missing (MCAR, set.seed(11)), missing = "ml", MLR
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
out_dir <- "tests/reference/sem"
hs <- HolzingerSwineford1939
m <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
set.seed(11)
hna <- hs
for (v in paste0("x", 1:9)) hna[[v]][runif(nrow(hna)) < 0.08] <- NA
write.csv(hna[, c("school", paste0("x", 1:9))], file.path(out_dir, "hs_na_school.csv"), row.names = FALSE, na = "")
hna <- read.csv(file.path(out_dir, "hs_na_school.csv"))
pair <- function(f1, f0) {
  fm <- function(f) as.list(fitMeasures(f, c("chisq", "df", "chisq.scaling.factor")))
  l1 <- lavTestLRT(f1, f0, method = "satorra.bentler.2001")
  l2 <- lavTestLRT(f1, f0, method = "satorra.bentler.2010")
  list(free = fm(f1), constrained = fm(f0),
       sb2001 = list(chisq_diff = l1[["Chisq diff"]][2], df_diff = l1[["Df diff"]][2], pvalue = l1[["Pr(>Chisq)"]][2]),
       sb2010 = list(chisq_diff = l2[["Chisq diff"]][2], df_diff = l2[["Df diff"]][2], pvalue = l2[["Pr(>Chisq)"]][2]))
}
cases <- list()
cases$metric <- pair(cfa(m, hs, group = "school", estimator = "MLR"),
                     cfa(m, hs, group = "school", estimator = "MLR", group.equal = "loadings"))
cases$fiml <- pair(cfa(m, hna, group = "school", estimator = "MLR", missing = "ml"),
                   cfa(m, hna, group = "school", estimator = "MLR", missing = "ml", group.equal = "loadings"))
cases$model <- m
writeLines(toJSON(c(list(lavaan_version = as.character(packageVersion("lavaan"))), cases), auto_unbox = TRUE,
                  digits = NA, pretty = TRUE), file.path(out_dir, "sb2010_reference.json"))
cat("wrote", file.path(out_dir, "sb2010_reference.json"), "\n")
