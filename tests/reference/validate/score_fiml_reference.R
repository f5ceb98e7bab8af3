# lavTestScore under FIML (lavaan missing = "ml"), the score tests behind vccscale's partial-invariance search
# when a study's missing_data is fiml. Reads hs_missing.csv (HolzingerSwineford1939 with values deleted); writes
# score_fiml_reference.json: for the scalar model (group = school, loadings and intercepts equal) fitted with
# missing = "ml", lavTestScore(fit)'s total test and univariate tests (lhs and rhs plabels, X2, df, p.value), and
# the chi-square of the fit. lavTestScore's default information = "expected".
#
# Run from the repository root:
#     Rscript tests/reference/validate/score_fiml_reference.R
suppressPackageStartupMessages({library(jsonlite); library(lavaan)})
out_dir <- "tests/reference/validate"
if (!dir.exists(out_dir)) stop("run from the repository root")
hs <- read.csv(file.path(out_dir, "hs_missing.csv"))
m <- " visual =~ x1 + x2 + x3 \n textual =~ x4 + x5 + x6 \n speed =~ x7 + x8 + x9 "
fit <- cfa(m, hs, group = "school", group.equal = c("loadings", "intercepts"), missing = "ml")
s <- lavTestScore(fit)
out <- list(versions = list(R = R.version.string, lavaan = as.character(packageVersion("lavaan"))),
            model = m, group = "school", group_equal = c("loadings", "intercepts"),
            chisq = unname(fitMeasures(fit, "chisq")), ntotal = lavInspect(fit, "ntotal"),
            total = list(X2 = s$test$X2, df = s$test$df, pvalue = s$test$p.value),
            uni = data.frame(lhs = s$uni$lhs, rhs = s$uni$rhs, X2 = s$uni$X2, df = s$uni$df,
                             pvalue = s$uni$p.value))
writeLines(toJSON(out, digits = NA, na = "null", auto_unbox = TRUE, dataframe = "rows", pretty = FALSE),
           file.path(out_dir, "score_fiml_reference.json"), useBytes = TRUE)
cat("wrote score_fiml_reference.json\n")
