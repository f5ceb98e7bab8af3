# Reference values for vccscale.models.hypotheses.joint_equivalence (R 4, base stats only).
# Run from the repository root: Rscript tests/reference/models/joint_equivalence_reference.R > tests/reference/models/joint_equivalence.json
# joint equivalence reference: p = pchisq(W, df = k, ncp = k * bound^2 / max(eigen(V)$values))
cases <- list(
  list(b = c(0.02, -0.03, 0.01), V = diag(c(0.05, 0.04, 0.06)^2), bound = 0.1),
  list(b = c(0.05, 0.08), V = matrix(c(0.0025, 0.001, 0.001, 0.0030), 2), bound = 0.1),
  list(b = c(0.12, -0.10, 0.02, 0.0, 0.07), V = diag(rep(0.04^2, 5)) + 0.0003, bound = 0.15),
  list(b = c(0.03), V = matrix(0.05^2), bound = 0.1)
)
out <- lapply(cases, function(cs) {
  W <- as.numeric(t(cs$b) %*% solve(cs$V) %*% cs$b)
  k <- length(cs$b)
  ncp <- k * cs$bound^2 / max(eigen(cs$V, symmetric = TRUE)$values)
  list(b = cs$b, V = cs$V, bound = cs$bound, w = W, ncp = ncp, p = pchisq(W, df = k, ncp = ncp))
})
cat(jsonlite::toJSON(out, digits = NA, auto_unbox = TRUE, matrix = "rowmajor"))
