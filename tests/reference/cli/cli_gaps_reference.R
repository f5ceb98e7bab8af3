# References for the CLI options of issue 14: sem --group-equal/--group-partial, cfa --modindices, --score-tests,
# invariance --missing fiml. lavaan 0.6-14. Run from the repository root:
#   Rscript tests/reference/cli/cli_gaps_reference.R
suppressMessages({library(lavaan); library(jsonlite)})
hs <- read.csv("tests/reference/validate/HolzingerSwineford1939.csv")
hsm <- read.csv("tests/reference/validate/hs_missing.csv")
model <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
pe <- function(fit) { p <- parameterEstimates(fit, standardized = TRUE)
  p[, intersect(c("lhs", "op", "rhs", "group", "est", "se", "std.all"), names(p))] }
fm <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic")
out <- list(lavaan = as.character(packageVersion("lavaan")), model = model)

# 1. multi-group SEM with equal loadings and intercepts, two of them released
f1 <- sem(model, hs, group = "school", group.equal = c("loadings", "intercepts"),
          group.partial = c("visual=~x2", "x3~1"))
out$partial <- list(fit = as.list(fitMeasures(f1, fm)), estimates = pe(f1))

# 2. modification indices of the one-group CFA (lavaan's modindices(), sorted)
f2 <- cfa(model, hs)
mi <- modindices(f2, sort. = TRUE)
out$modindices <- mi[1:15, c("lhs", "op", "rhs", "mi", "epc", "sepc.all")]
out$modindices_n_above_10 <- sum(modindices(f2)$mi >= 10)

# 3. score tests of equal loadings
f3 <- cfa(model, hs, group = "school", group.equal = "loadings")
st <- lavTestScore(f3)
out$score <- list(total = st$test[, c("X2", "df", "p.value")], uni = st$uni[, c("lhs", "op", "rhs", "X2", "df", "p.value")])

# 4. invariance with full-information ML on data with missing values
conf <- cfa(model, hsm, group = "school", missing = "ml")
metr <- cfa(model, hsm, group = "school", missing = "ml", group.equal = "loadings")
scal <- cfa(model, hsm, group = "school", missing = "ml", group.equal = c("loadings", "intercepts"))
out$fiml_invariance <- list(
  configural = as.list(fitMeasures(conf, c("chisq", "df", "cfi", "rmsea"))),
  metric = as.list(fitMeasures(metr, c("chisq", "df", "cfi", "rmsea"))),
  scalar = as.list(fitMeasures(scal, c("chisq", "df", "cfi", "rmsea"))),
  nobs = lavInspect(conf, "nobs"))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/reference/cli/cli_gaps_reference.json")
