# WLSMV (ordered indicators) reference values for vccscale.sem's DWLS/WLSMV estimator: lavaan 0.6-14.
#
# Run from the repository root:  Rscript tests/reference/ordinal_sem/wlsmv_reference.R
# Writes, in tests/reference/ordinal_sem/:
#   bfi_ac.csv            psych::bfi items A1-A5 and C1-C5 (6-point), complete cases, with gender (1/2)
#   wlsmv_reference.json
#     cfa: cfa("A =~ A1 + ... + A5; C =~ C1 + ... + C5", ordered = TRUE, estimator = "WLSMV")
#          fitMeasures (all), parameterEstimates (est, se, z, pvalue), standardizedSolution est.std,
#          sample thresholds and polychoric correlations (lavInspect "sampstat"), the NACOV (gamma) and the
#          DWLS weights (diag of WLS.V), lavaan's options
#     uls: the same with estimator = "ULSMV"
#     groups: by gender (1, 2), WLSMV, group.equal "none" (configural), "thresholds", c("thresholds",
#          "loadings") (lavaan frees the scale factors ~*~ and latent means of group 2 once thresholds are equal):
#          fitMeasures and parameterEstimates (with group) of each; lrt: lavTestLRT of the three (Satorra 2000
#          scaled-shifted difference tests, lavaan's default for WLSMV)
#     pairwise: bfi_ac_na.csv (the same data with 4% of the item answers set missing, MCAR, set.seed(7)),
#          cfa(..., ordered = TRUE, estimator = "WLSMV", missing = "pairwise")
#     reliability: the WLSMV fit with A1, C4 and C5 reversed (7 - x): semTools::compRelSEM(fit) (Green & Yang's
#          categorical omega), compRelSEM(fit, ord.scale = FALSE) (omega of the latent responses) and
#          psych::alpha of the polychoric correlations (ordinal alpha)
#     theta: parameterization = "theta": the one-group CFA (as cfa above) and by gender with equal thresholds
suppressPackageStartupMessages({library(lavaan); library(psych); library(semTools); library(jsonlite)})
out_dir <- "tests/reference/ordinal_sem"
if (!dir.exists(out_dir)) stop("run from the repository root")
items <- c(paste0("A", 1:5), paste0("C", 1:5))
d <- bfi[complete.cases(bfi[, c(items, "gender")]), c(items, "gender")]
write.csv(d, file.path(out_dir, "bfi_ac.csv"), row.names = FALSE)
d <- read.csv(file.path(out_dir, "bfi_ac.csv"))
model <- "A =~ A1 + A2 + A3 + A4 + A5\nC =~ C1 + C2 + C3 + C4 + C5"
num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }
mat <- function(m) unname(lapply(seq_len(nrow(m)), function(i) num(m[i, ])))
describe <- function(fit) {
  pe <- parameterEstimates(fit)
  ss <- standardizedSolution(fit)
  st <- lavInspect(fit, "sampstat")
  list(
    model = model, nobs = lavInspect(fit, "nobs"),
    options = lavInspect(fit, "options")[c("estimator", "se", "test", "parameterization")],
    fit = as.list(setNames(num(fitMeasures(fit)), names(fitMeasures(fit)))),
    estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = num(pe$est), se = num(pe$se),
                     z = num(pe$z), pvalue = num(pe$pvalue)),
    std_all = num(ss$est.std),
    thresholds = as.list(num(st$th)), threshold_names = names(st$th),
    polychoric = mat(unclass(st$cov)),
    gamma = mat(lavInspect(fit, "gamma")),
    wls_v_diag = num(diag(lavInspect(fit, "wls.v"))),
    iterations = lavInspect(fit, "iterations")
  )
}
fit <- cfa(model, data = d, ordered = TRUE, estimator = "WLSMV")
fit_u <- cfa(model, data = d, ordered = TRUE, estimator = "ULSMV")
t0 <- Sys.time(); for (k in 1:5) cfa(model, data = d, ordered = TRUE, estimator = "WLSMV"); t1 <- Sys.time()
set.seed(7)
dna <- d
for (v in items) dna[[v]][runif(nrow(dna)) < 0.04] <- NA
write.csv(dna, file.path(out_dir, "bfi_ac_na.csv"), row.names = FALSE, na = "")
dna <- read.csv(file.path(out_dir, "bfi_ac_na.csv"))
fit_pw <- cfa(model, data = dna, ordered = TRUE, estimator = "WLSMV", missing = "pairwise")
dr <- d
for (v in c("A1", "C4", "C5")) dr[[v]] <- 7 - dr[[v]]
fit_r <- cfa(model, data = dr, ordered = TRUE, estimator = "WLSMV")
R <- lavInspect(fit_r, "sampstat")$cov
rel <- list(factor = c("A", "C"), omega_categorical = num(compRelSEM(fit_r)),
            omega_latent = num(compRelSEM(fit_r, ord.scale = FALSE)),
            alpha_ordinal = c(psych::alpha(R[1:5, 1:5], warnings = FALSE)$total$raw_alpha,
                              psych::alpha(R[6:10, 6:10], warnings = FALSE)$total$raw_alpha),
            reversed = c("A1", "C4", "C5"))
describe_groups <- function(fit) {
  pe <- parameterEstimates(fit)
  list(fit = as.list(setNames(num(fitMeasures(fit)), names(fitMeasures(fit)))),
       estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group, est = num(pe$est),
                        se = num(pe$se)),
       nobs = unlist(lavInspect(fit, "nobs")))
}
groups <- list()
gfits <- list()
for (ge in list("none", "thresholds", c("thresholds", "loadings"))) {
  f <- cfa(model, data = d, ordered = TRUE, estimator = "WLSMV", group = "gender", group.equal = ge)
  groups[[paste(ge, collapse = "+")]] <- describe_groups(f)
  gfits[[length(gfits) + 1]] <- f
}
# lavTestLRT for WLSMV: the scaled-shifted difference test of Satorra (2000) ("delta" A matrix)
lrt <- lavTestLRT(gfits[[1]], gfits[[2]], gfits[[3]])
groups$lrt <- list(chisq_diff = num(lrt[["Chisq diff"]]), df_diff = num(lrt[["Df diff"]]),
                   pvalue = num(lrt[["Pr(>Chisq)"]]), method = attr(lrt, "heading"))
# theta parameterisation: one group, and by gender with equal thresholds (residual variances of group 2 free)
fit_th <- cfa(model, data = d, ordered = TRUE, estimator = "WLSMV", parameterization = "theta")
fit_thg <- cfa(model, data = d, ordered = TRUE, estimator = "WLSMV", parameterization = "theta", group = "gender",
               group.equal = "thresholds")
theta <- list(cfa = describe(fit_th), groups = describe_groups(fit_thg),
              options = lavInspect(fit_th, "options")[c("parameterization")])
out <- list(lavaan_version = as.character(packageVersion("lavaan")), items = items,
            cfa = describe(fit), uls = describe(fit_u), reliability = rel, groups = groups, theta = theta,
            pairwise = describe(fit_pw),
            seconds_per_fit = as.numeric(difftime(t1, t0, units = "secs")) / 5)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = TRUE),
           file.path(out_dir, "wlsmv_reference.json"))
cat("wrote", file.path(out_dir, "wlsmv_reference.json"), "\n")
