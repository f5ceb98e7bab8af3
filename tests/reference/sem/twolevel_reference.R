# Two-level SEM / CFA with ML (lavaan 0.6-14, cluster = "cluster"): reference values for tests/test_sem_twolevel.py.
#
# Run from the repository root:
#     Rscript tests/reference/sem/twolevel_reference.R
# Writes, in tests/reference/sem/:
#   demo_twolevel.csv             lavaan's Demo.twolevel (2500 rows, 200 clusters of 5/10/15/20), as
#                                 write.csv(Demo.twolevel, ..., row.names = FALSE)
#   demo_twolevel_unbalanced.csv  the same with rows dropped (set.seed(2023)): each cluster keeps a random number
#                                 of its first rows between 1 and its size, so cluster sizes range from 1
#                                 (singletons) to 20
#   twolevel_reference.json
#     sem:        sem(model_sem, Demo.twolevel, cluster = "cluster") (lavaan's documented example)
#     cfa:        cfa(model_cfa, Demo.twolevel, cluster = "cluster") (configural across levels)
#     unbalanced: sem(model_sem, unbalanced data, cluster = "cluster")
#     equal_loadings: cfa(model_eq, Demo.twolevel, cluster = "cluster"): labels a, b shared by the within and
#                 between loadings (one parameter each, lavaan's cross-level equality)
#     missing_y:  sem(model_sem, Demo.twolevel with y1 set to NA in rows 3, 50 and 51, cluster = "cluster"):
#                 lavaan drops the 3 rows (missing = "listwise") without a warning
#     defined:    sem(model_def, Demo.twolevel, cluster = "cluster"): := rows across levels (a within slope a, a
#                 between slope b; ab := a*b, d := a - b), lavaan's level-0 rows with delta-method SEs
#     defined_monte_carlo: semTools::monteCarloCI(fit_def, nRep = 1e6) after set.seed(20261202) (est, ci.lower,
#                 ci.upper of ab and d): Monte Carlo CIs of the := rows, for vccscale.sem.monte_carlo_ci
#     sem_tight:  the sem case fitted to the maximum: optim.method = "BFGS", control = list(reltol = 1e-14)
#   each with fitMeasures(fit) (all), parameterEstimates(fit) (lhs, op, rhs, level, est, se, z, pvalue),
#   standardizedSolution(fit) (est.std), lavInspect(fit, "options") (information, se, test, ...), the model-
#   implied and h1 (EM) within/between moments, the cluster sizes and lavaan's iteration count.
suppressPackageStartupMessages({
  library(jsonlite)
  library(lavaan)
  library(semTools)
})
out_dir <- "tests/reference/sem"
if (!dir.exists(out_dir)) stop("run from the repository root")

write.csv(Demo.twolevel, file.path(out_dir, "demo_twolevel.csv"), row.names = FALSE)
demo <- read.csv(file.path(out_dir, "demo_twolevel.csv"))

set.seed(2023)
keep <- unlist(lapply(split(seq_len(nrow(demo)), demo$cluster), function(idx) {
  idx[seq_len(sample.int(length(idx), 1L))]
}))
unb <- demo[sort(keep), ]
write.csv(unb, file.path(out_dir, "demo_twolevel_unbalanced.csv"), row.names = FALSE)
unb <- read.csv(file.path(out_dir, "demo_twolevel_unbalanced.csv"))

model_sem <- "
level: 1
    fw =~ y1 + y2 + y3
    fw ~ x1 + x2 + x3
level: 2
    fb =~ y1 + y2 + y3
    fb ~ w1 + w2
"
model_cfa <- "
level: 1
    fw =~ y1 + y2 + y3
level: 2
    fb =~ y1 + y2 + y3
"
model_eq <- "
level: 1
    fw =~ y1 + a*y2 + b*y3
level: 2
    fb =~ y1 + a*y2 + b*y3
"
model_def <- "
level: 1
    fw =~ y1 + y2 + y3
    fw ~ a*x1 + x2 + x3
level: 2
    fb =~ y1 + y2 + y3
    fb ~ b*w1 + w2
    ab := a*b
    d := a - b
"

num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }
mat <- function(m) unname(lapply(seq_len(nrow(m)), function(i) num(m[i, ])))
block_moments <- function(imp) {
  list(within = list(cov = mat(imp$cov[[1]]), mean = num(imp$mean[[1]])),
       between = list(cov = mat(imp$cov[[2]]), mean = num(imp$mean[[2]])))
}
describe <- function(fit, model, data, fun) {
  f <- fitMeasures(fit)
  pe <- parameterEstimates(fit)
  ss <- standardizedSolution(fit)
  # standardizedSolution has no level column: its rows are those of parameterEstimates, in the same order
  stopifnot(identical(ss$lhs, pe$lhs), identical(ss$op, pe$op), identical(ss$rhs, pe$rhs))
  opt <- lavInspect(fit, "options")
  names_w <- lavNames(fit, "ov", level = 1)
  names_b <- lavNames(fit, "ov", level = 2)
  list(
    call = fun, model = model, nobs = lavInspect(fit, "nobs"),
    nclusters = lavInspect(fit, "nclusters"),
    cluster_sizes = as.integer(table(data$cluster)),
    iterations = lavInspect(fit, "iterations"),
    converged = lavInspect(fit, "converged"),
    options = list(information = opt$information, se = opt$se, test = opt$test, estimator = opt$estimator,
                   fixed.x = opt$fixed.x, meanstructure = opt$meanstructure,
                   h1.information = opt$h1.information, observed.information = opt$observed.information,
                   optim.method = opt$optim.method),
    fit = as.list(setNames(num(f), names(f))),
    estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, level = as.integer(pe$level), block = pe$block,
                     est = num(pe$est), se = num(pe$se), z = num(pe$z), pvalue = num(pe$pvalue),
                     ci_lower = num(pe$ci.lower), ci_upper = num(pe$ci.upper)),
    standardized = list(lhs = ss$lhs, op = ss$op, rhs = ss$rhs, level = as.integer(pe$level),
                        est_std = num(ss$est.std), se = num(ss$se)),
    ov_names = list(within = names_w, between = names_b),
    implied = block_moments(fit@implied),
    h1 = block_moments(fit@h1$implied),
    h1_logl = fit@h1$logl$loglik,
    loglik_x = fit@SampleStats@YLp[[1]][[2]]$loglik.x,
    baseline_partable = list(lhs = fit@baseline$partable$lhs, op = fit@baseline$partable$op,
                             rhs = fit@baseline$partable$rhs, level = as.integer(fit@baseline$partable$level),
                             free = as.integer(fit@baseline$partable$free),
                             est = num(fit@baseline$partable$est))
  )
}

fit_sem <- sem(model_sem, data = demo, cluster = "cluster")
fit_cfa <- cfa(model_cfa, data = demo, cluster = "cluster")
fit_unb <- sem(model_sem, data = unb, cluster = "cluster")
fit_eq <- cfa(model_eq, data = demo, cluster = "cluster")
demo_na <- demo
demo_na$y1[c(3, 50, 51)] <- NA
fit_na <- sem(model_sem, data = demo_na, cluster = "cluster")
fit_def <- sem(model_def, data = demo, cluster = "cluster")
# lavaan's default optimiser (nlminb, rel.tol 1e-10) stops 3e-7 to 2e-6 short of the maximum log-likelihood of
# these models, so its estimates are up to ~2e-3 SE from the maximum; the same model fitted with BFGS to
# reltol 1e-14 reaches it (logl +1.44e-6 for the documented example), and is the reference for the estimates
fit_tight <- sem(model_sem, data = demo, cluster = "cluster", optim.method = "BFGS",
                 control = list(reltol = 1e-14, maxit = 10000))

set.seed(20261202)
mc <- monteCarloCI(fit_def, nRep = 1e6)

out <- list(
  lavaan_version = as.character(packageVersion("lavaan")),
  sem = describe(fit_sem, model_sem, demo, "sem"),
  cfa = describe(fit_cfa, model_cfa, demo, "cfa"),
  unbalanced = describe(fit_unb, model_sem, unb, "sem"),
  equal_loadings = describe(fit_eq, model_eq, demo, "cfa"),
  missing_y = describe(fit_na, model_sem, demo_na[!is.na(demo_na$y1), ], "sem"),
  defined = describe(fit_def, model_def, demo, "sem"),
  defined_monte_carlo = list(name = rownames(mc), est = num(mc$est), ci_lower = num(mc$ci.lower),
                             ci_upper = num(mc$ci.upper), n_draws = 1e6),
  sem_tight = describe(fit_tight, model_sem, demo, "sem")
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = TRUE),
           file.path(out_dir, "twolevel_reference.json"))
cat("wrote", file.path(out_dir, "twolevel_reference.json"), "\n")
