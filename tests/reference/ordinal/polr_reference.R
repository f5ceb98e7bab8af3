# Reference for vccscale.models.ordinal: MASS::polr (logit and probit, Hess = TRUE) and Brant's (1990) test of
# proportional odds, the latter transcribed in base R from Brant (1990) / the 'brant' package's algorithm
# (binary logits of Y > k, covariance of the stacked slopes, Wald test of equal slopes).
# Run from the repository root: Rscript tests/reference/ordinal/polr_reference.R   (MASS 7.3-58)
library(MASS); library(jsonlite)
d <- read.csv("tests/reference/ordinal/ordinal_data.csv")
d <- d[complete.cases(d[, c("x1", "x2")]), ]
fit_one <- function(y, method) {
  d$yy <- factor(d[[y]], ordered = TRUE)
  f <- polr(yy ~ x1 + x2, data = d, method = method, Hess = TRUE)
  V <- vcov(f)
  list(coefficients = as.list(coef(f)), zeta = as.list(f$zeta), se = as.list(sqrt(diag(V))),
       loglik = as.numeric(logLik(f)), aic = AIC(f), n = nrow(d))
}
brant_base <- function(y) {
  yy <- d[[y]]
  X <- cbind(1, as.matrix(d[, c("x1", "x2")]))
  lev <- sort(unique(yy)); K <- length(lev); m <- K - 1; p <- ncol(X) - 1
  betas <- list(); pis <- list(); infs <- list()
  for (k in 1:m) {
    t <- as.numeric(yy > lev[k])
    g <- glm(t ~ X - 1, family = binomial)
    b <- coef(g); pi <- fitted(g)
    betas[[k]] <- b; pis[[k]] <- pi
    infs[[k]] <- solve(t(X) %*% (X * (pi * (1 - pi))))
  }
  Vs <- matrix(0, m * p, m * p)
  for (k in 1:m) for (l in k:m) {
    w <- pis[[l]] - pis[[k]] * pis[[l]]
    C <- (infs[[k]] %*% (t(X) %*% (X * w)) %*% infs[[l]])[-1, -1, drop = FALSE]
    Vs[((k - 1) * p + 1):(k * p), ((l - 1) * p + 1):(l * p)] <- C
    Vs[((l - 1) * p + 1):(l * p), ((k - 1) * p + 1):(k * p)] <- t(C)
  }
  bstar <- unlist(lapply(betas, function(b) b[-1]))
  D <- matrix(0, (m - 1) * p, m * p)
  for (r in 1:(m - 1)) {
    D[((r - 1) * p + 1):(r * p), 1:p] <- diag(p)
    D[((r - 1) * p + 1):(r * p), (r * p + 1):((r + 1) * p)] <- -diag(p)
  }
  Db <- D %*% bstar; DVD <- D %*% Vs %*% t(D)
  X2 <- as.numeric(t(Db) %*% solve(DVD) %*% Db)
  out <- list(omnibus = list(chisq = X2, df = (m - 1) * p, p = pchisq(X2, (m - 1) * p, lower.tail = FALSE)))
  for (j in 1:p) {
    idx <- (0:(m - 2)) * p + j
    xj <- as.numeric(t(Db[idx]) %*% solve(DVD[idx, idx]) %*% Db[idx])
    out[[c("x1", "x2")[j]]] <- list(chisq = xj, df = m - 1, p = pchisq(xj, m - 1, lower.tail = FALSE))
  }
  out
}
out <- list(MASS = as.character(packageVersion("MASS")),
            logit = fit_one("stage", "logistic"), probit = fit_one("stage", "probit"),
            brant = brant_base("stage"), brant_np = brant_base("stage_np"))
write_json(out, "tests/reference/ordinal/polr_reference.json", digits = NA, pretty = TRUE, auto_unbox = TRUE)
