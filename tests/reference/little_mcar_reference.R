# Reference values for vccscale.clean.missing.em_mvn and little_mcar (tests/test_clean_missing.py).
# Base R only (norm and naniar are not in Debian): EM for the multivariate normal (Dempster, Laird & Rubin 1977,
# the algorithm of norm::em.norm) and Little's (1988) d^2 as naniar::mcar_test computes it from the EM estimates:
#   d2 = sum_j n_j (ybar_j - mu_j)' Sigma_j^{-1} (ybar_j - mu_j),  df = sum_j p_j - p.
# Run: Rscript tests/reference/little_mcar_reference.R   (from the repository root)
x <- as.matrix(read.csv("tests/reference/mcar_data.csv"))
x <- x[rowSums(!is.na(x)) > 0, , drop = FALSE]
n <- nrow(x); p <- ncol(x)
mu <- colMeans(x, na.rm = TRUE)
sigma <- diag(apply(x, 2, var, na.rm = TRUE) * (colSums(!is.na(x)) - 1) / colSums(!is.na(x)))
for (it in 1:10000) {
  s1 <- rep(0, p); s2 <- matrix(0, p, p)
  for (i in 1:n) {
    o <- !is.na(x[i, ]); m <- !o
    y <- x[i, ]
    cm <- matrix(0, p, p)
    if (any(m)) {
      b <- sigma[m, o, drop = FALSE] %*% solve(sigma[o, o, drop = FALSE])
      y[m] <- mu[m] + b %*% (x[i, o] - mu[o])
      cm[m, m] <- sigma[m, m, drop = FALSE] - b %*% sigma[o, m, drop = FALSE]
    }
    s1 <- s1 + y
    s2 <- s2 + y %o% y + cm
  }
  mu_new <- s1 / n
  sigma_new <- s2 / n - mu_new %o% mu_new
  delta <- max(abs(mu_new - mu), abs(sigma_new - sigma))
  mu <- mu_new; sigma <- sigma_new
  if (delta < 1e-12) break
}
pat <- apply(!is.na(x), 1, function(r) paste(as.integer(r), collapse = ""))
d2 <- 0; df <- 0
for (k in unique(pat)) {
  rows <- which(pat == k)
  o <- !is.na(x[rows[1], ])
  dif <- colMeans(x[rows, o, drop = FALSE]) - mu[o]
  d2 <- d2 + length(rows) * as.numeric(t(dif) %*% solve(sigma[o, o, drop = FALSE]) %*% dif)
  df <- df + sum(o)
}
df <- df - p
out <- data.frame(quantity = c(paste0("mu", 1:p), paste0("sigma", rep(1:p, each = p), rep(1:p, p)),
                               "d2", "df", "pvalue", "n_patterns"),
                  value = c(mu, as.vector(t(sigma)), d2, df, pchisq(d2, df, lower.tail = FALSE),
                            length(unique(pat))))
write.csv(out, "tests/reference/little_mcar_reference.csv", row.names = FALSE)
print(out, digits = 15)
