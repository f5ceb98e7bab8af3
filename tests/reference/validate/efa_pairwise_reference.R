# psych::fa fit statistics on pairwise-missing data (issue 14, item 1).
#
# Run from the repository root:
#     Rscript tests/reference/validate/efa_pairwise_reference.R
# It simulates 9 items of 3 correlated factors (n = 400, set.seed(1414)), deletes about 10% of the values
# completely at random, writes tests/reference/validate/efa_pairwise.csv (NA = empty field), reads it back and
# writes psych 2.2.9's fa() results to tests/reference/validate/efa_pairwise_reference.json (same JSON
# conventions as make_reference.R). With raw data psych::fa always passes np.obs = pairwiseCount(x) to
# factor.stats, which then weights the squared residuals by the pairwise n: chi = sum(resid^2 * np.obs),
# rms = sqrt(chi / (nh p (p - 1))) and crms = sqrt(chi / (2 nh dof)) with nh the harmonic mean of np.obs (all
# p^2 entries). The RMSEA interval is the 90% one (fa's alpha = .1). Tested by tests/test_validate_efa.py and
# tests/test_cli_validate.py.

suppressPackageStartupMessages({library(jsonlite); library(psych); library(GPArotation)})
out_dir <- "tests/reference/validate"
if (!dir.exists(out_dir)) stop("run from the repository root")
stopifnot(packageVersion("psych") == "2.2.9")

num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }
vec <- function(v) { nm <- names(v); v <- num(unclass(v)); names(v) <- nm; as.list(v) }
mat <- function(m) {
  m <- as.matrix(unclass(m)); list(rownames = rownames(m), colnames = colnames(m),
                                   values = matrix(num(m), nrow(m), ncol(m)))
}

set.seed(1414)
n <- 400
phi <- matrix(c(1, .3, .4, .3, 1, .2, .4, .2, 1), 3)
lam <- matrix(0, 9, 3)
lam[1:3, 1] <- c(.75, .65, .55); lam[4:6, 2] <- c(.7, .6, .5); lam[7:9, 3] <- c(.8, .6, .45)
lam[4, 1] <- .25                                   # one cross-loading
f <- matrix(rnorm(n * 3), n) %*% chol(phi)
x <- f %*% t(lam) + matrix(rnorm(n * 9), n) %*% diag(sqrt(1 - rowSums((lam %*% phi) * lam)))
x <- round(x, 6)
colnames(x) <- paste0("v", 1:9)
x[matrix(runif(n * 9) < .10, n)] <- NA
write.csv(as.data.frame(x), file.path(out_dir, "efa_pairwise.csv"), row.names = FALSE, na = "")
x <- read.csv(file.path(out_dir, "efa_pairwise.csv"))
stopifnot(all(rowSums(!is.na(x)) > 0))             # every row answered something: n.obs = nrow = vccscale's n

entry <- function(f, call) list(call = call, n_obs = f$n.obs, nh = f$nh, dof = f$dof,
  loadings = mat(f$loadings), Phi = if (is.null(f$Phi)) NULL else mat(f$Phi), h2 = vec(f$communality),
  objective = f$objective, STATISTIC = f$STATISTIC, PVAL = num(f$PVAL), chi = f$chi, EPVAL = num(f$EPVAL),
  rms = f$rms, crms = num(f$crms), fit = f$fit, fit_off = f$fit.off, TLI = f$TLI, RMSEA = vec(f$RMSEA),
  BIC = num(f$BIC), SABIC = num(f$SABIC), EBIC = num(f$EBIC), ESABIC = num(f$ESABIC),
  null_model = f$null.model, null_dof = f$null.dof, null_chisq = f$null.chisq,
  np_obs = mat(f$np.obs))

specs <- list(minres_1_oblimin = list("minres", 1, "oblimin"), minres_2_oblimin = list("minres", 2, "oblimin"),
              minres_3_oblimin = list("minres", 3, "oblimin"), minres_3_varimax = list("minres", 3, "varimax"),
              minres_3_promax = list("minres", 3, "promax"), ml_3_oblimin = list("ml", 3, "oblimin"))
out <- list(versions = list(R = R.version.string, psych = as.character(packageVersion("psych")),
                            GPArotation = as.character(packageVersion("GPArotation"))),
            n = nrow(x), missing_share = mean(is.na(x)), fa = list())
for (k in names(specs)) {
  s <- specs[[k]]
  cl <- sprintf("fa(x, nfactors = %d, fm = '%s', rotate = '%s')", s[[2]], s[[1]], s[[3]])
  out$fa[[k]] <- entry(fa(x, nfactors = s[[2]], fm = s[[1]], rotate = s[[3]]), cl)
}
txt <- toJSON(out, digits = NA, na = "null", null = "null", auto_unbox = TRUE, dataframe = "rows", pretty = TRUE)
writeLines(txt, file.path(out_dir, "efa_pairwise_reference.json"), useBytes = TRUE)
