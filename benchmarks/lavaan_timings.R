# lavaan timing baseline for vccscale's CFA / invariance code (run on demand, not part of the tests).
#
#     Rscript benchmarks/lavaan_timings.R          # from the repository root
#
# Times (median of 5 runs of system.time()[["elapsed"]], seconds):
#   hs_cfa        cfa() of the 3-factor Holzinger-Swineford model (n = 301, 9 items, ML)
#   hs_invariance the 4 multi-group fits (configural, metric, scalar, strict; group = "school", ML) + lavTestLRT
#   cfa30_n1000   cfa() of a 6-factor, 30-item model on n = 1000 simulated cases (ML)
# The simulated data (population: loadings .7, residual variances .51, factor variances 1, factor
# correlations .3; lavaan::simulateData(seed = 1)) are rounded to 6 decimals and written to
# tests/reference/validate/cfa30_n1000.csv; the timed fit uses the data read back from that file, so Python
# fits the identical data. tests/reference/validate/make_reference.R exports the reference estimates for it.
# Writes benchmarks/lavaan_timings.json and prints a table.

suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})
if (!dir.exists("benchmarks")) stop("run from the repository root")

n_rep <- 5
time_it <- function(expr_fun) {
  expr_fun()                                    # warm-up (not timed)
  t <- vapply(seq_len(n_rep), function(i) system.time(expr_fun())[["elapsed"]], numeric(1))
  t <- round(t, 3)
  list(median = median(t), min = min(t), max = max(t), runs = t)
}

# --- Holzinger-Swineford
HS <- lavaan::HolzingerSwineford1939
hs_model <- ' visual =~ x1 + x2 + x3 \n textual =~ x4 + x5 + x6 \n speed =~ x7 + x8 + x9 '
hs_cfa <- function() cfa(hs_model, data = HS, estimator = "ML")
hs_inv <- function() {
  f1 <- cfa(hs_model, data = HS, group = "school")
  f2 <- cfa(hs_model, data = HS, group = "school", group.equal = "loadings")
  f3 <- cfa(hs_model, data = HS, group = "school", group.equal = c("loadings", "intercepts"))
  f4 <- cfa(hs_model, data = HS, group = "school", group.equal = c("loadings", "intercepts", "residuals"))
  lavTestLRT(f1, f2, f3, f4)
}

# --- simulated 30-item, 6-factor CFA
k <- 6; per <- 5
ind <- function(f) paste0("y", (f - 1) * per + seq_len(per))
pop <- c(
  sapply(1:k, function(f) sprintf("f%d =~ %s", f, paste0("0.7*", ind(f), collapse = " + "))),
  sprintf("f%d ~~ 1*f%d", 1:k, 1:k),
  unlist(lapply(1:(k - 1), function(i) sprintf("f%d ~~ 0.3*f%d", i, (i + 1):k))),
  sprintf("y%d ~~ 0.51*y%d", 1:(k * per), 1:(k * per))
)
pop_model <- paste(pop, collapse = "\n")
sim <- simulateData(pop_model, sample.nobs = 1000, seed = 1)
sim <- sim[, paste0("y", 1:(k * per))]
sim <- round(sim, 6)
csv <- "tests/reference/validate/cfa30_n1000.csv"
write.csv(sim, csv, row.names = FALSE)
d30 <- read.csv(csv)
m30 <- paste(sapply(1:k, function(f) sprintf("f%d =~ %s", f, paste(ind(f), collapse = " + "))), collapse = "\n")
cfa30 <- function() cfa(m30, data = d30, estimator = "ML")

res <- list(
  hs_cfa = time_it(hs_cfa),
  hs_invariance = time_it(hs_inv),
  cfa30_n1000 = time_it(cfa30)
)
f30 <- cfa30()

tab <- data.frame(task = names(res),
                  median_s = sapply(res, `[[`, "median"),
                  min_s = sapply(res, `[[`, "min"),
                  max_s = sapply(res, `[[`, "max"), row.names = NULL)
cat(sprintf("lavaan %s, R %s.%s, median of %d runs (system.time elapsed)\n",
            packageVersion("lavaan"), R.version$major, R.version$minor, n_rep))
print(tab, row.names = FALSE, digits = 4)
cat(sprintf("cfa30_n1000: chisq = %.4f, df = %d, cfi = %.4f, rmsea = %.4f\n",
            fitMeasures(f30, "chisq"), as.integer(fitMeasures(f30, "df")),
            fitMeasures(f30, "cfi"), fitMeasures(f30, "rmsea")))

out <- list(
  lavaan = as.character(packageVersion("lavaan")),
  R = R.version.string,
  platform = R.version$platform,
  n_rep = n_rep,
  statistic = "median of system.time()[['elapsed']] (seconds), after one untimed warm-up run",
  timings = res,
  population_model = pop_model,
  cfa30_data = csv,
  cfa30_model = m30,
  cfa30_fit = as.list(unclass(fitMeasures(f30, c("chisq", "df", "cfi", "rmsea", "srmr"))))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "benchmarks/lavaan_timings.json")
cat("wrote benchmarks/lavaan_timings.json\n")
