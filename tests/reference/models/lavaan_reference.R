# lavaan 0.6-14 reference for the generated family-A mediation model on the simulated data.
# Run from the repository root after make_fixtures.py: Rscript tests/reference/models/lavaan_reference.R
library(lavaan); library(jsonlite)
d <- "tests/reference/models"
dat <- read.csv(file.path(d, "sim_family_a.csv"))
model <- paste0(paste(readLines(file.path(d, "sim_family_a_model.lav")), collapse = "\n"), "\n")
fit <- sem(model, data = dat)
pe <- parameterEstimates(fit)
pe <- pe[, c("lhs", "op", "rhs", "est", "se")]
fm <- fitMeasures(fit, c("chisq", "df", "aic", "bic"))
# Joint equivalence test of the zero (direct) paths p5-p7 (vccscale.models.hypotheses.joint_equivalence):
# b = std.all of the paths, V = diag(std/est) vcov diag(std/est), W = b' V^-1 b,
# p = pchisq(W, k, ncp = k bound^2 / max eigenvalue of V)
ss <- standardizedSolution(fit)
zero <- c("p5", "p6", "p7")
pe_l <- parameterEstimates(fit)
est <- pe_l$est[match(zero, pe_l$label)]
std <- ss$est.std[match(zero, pe_l$label)]
V <- vcov(fit)[zero, zero] * outer(std / est, std / est)
W <- as.numeric(t(std) %*% solve(V) %*% std)
jeq <- lapply(c(0.1, 0.25), function(bound) {
  ncp <- length(zero) * bound^2 / max(eigen(V, symmetric = TRUE)$values)
  list(bound = bound, w = W, ncp = ncp, p = pchisq(W, df = length(zero), ncp = ncp))
})
out <- list(lavaan = as.character(packageVersion("lavaan")), model = model,
            estimates = pe, fit = as.list(fm), joint_equivalence = jeq)
write(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(d, "sim_family_a_lavaan.json"))
