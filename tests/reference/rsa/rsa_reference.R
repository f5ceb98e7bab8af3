# Reference values for vccscale.models.rsa (polynomial regression / response surface analysis), base R + lavaan.
# Run from this directory:  Rscript rsa_reference.R
# Writes rsa_data.csv and rsa_reference.json.
#
# * lm() (OLS, vcov with divisor n - p) and glm(binomial) fits of Z ~ X + Y + X^2 + XY + Y^2 with X, Y centred
#   at the scale midpoint 4 (1-7 scale);
# * a1..a5 as linear combinations c'b with SE sqrt(c' V c);
# * stationary point and principal axes from the formulas; delta-method SEs with the analytic gradient
#   (deriv()) times vcov(lm) / vcov(glm);
# * the same := definitions in lavaan (ML, vcov with divisor n): point values equal lm's, delta SEs equal the lm
#   ones times sqrt((n - p) / n), p = 6 coefficients incl. intercept;
# * constrained models (linear, squared difference, shifted squared difference, rising ridge, difference) with
#   anova() F tests / likelihood-ratio tests, AIC and BIC (R's logLik convention: sigma counted);
# * shares of X > Y, X ~ Y, X < Y: Shanock et al. (2010) |zX - zY| < 0.5 (each variable z-scored with sd, n - 1)
#   and raw |X - Y| <= 0.5 scale points.
suppressMessages({library(lavaan); library(jsonlite)})
stopifnot(packageVersion("lavaan") == "0.6.14")

set.seed(20240917)
n <- 300
# Likert-type means of four 1-7 items (multiples of 0.25), X and Y correlated
lat <- MASS::mvrnorm(n, mu = c(4.6, 4.3), Sigma = matrix(c(1.1, 0.6, 0.6, 1.2), 2))
lik <- function(v) pmin(7, pmax(1, round(v * 4) / 4))
X <- lik(lat[, 1]); Y <- lik(lat[, 2])
cv <- round(rnorm(n), 6)
xc <- X - 4; yc <- Y - 4
# known surface (centred units): b = (0.30, 0.20, -0.25, 0.20, -0.20), stationary point (1, 1)
mu <- 3.5 + 0.30 * xc + 0.20 * yc - 0.25 * xc^2 + 0.20 * xc * yc - 0.20 * yc^2
Z <- round(mu + 0.20 * cv + rnorm(n, sd = 0.6), 6)
zbin <- rbinom(n, 1, plogis(-3.2 + 0.9 * mu))
write.csv(data.frame(X = X, Y = Y, Z = Z, zbin = zbin, cv = cv), "rsa_data.csv", row.names = FALSE)

d <- data.frame(Z = Z, zbin = zbin, cv = cv, Xc = xc, Yc = yc, X2 = xc^2, XY = xc * yc, Y2 = yc^2)
bn <- c("Xc", "Yc", "X2", "XY", "Y2")

lin <- list(a1 = c(1, 1, 0, 0, 0), a2 = c(0, 0, 1, 1, 1), a3 = c(1, -1, 0, 0, 0), a4 = c(0, 0, 1, -1, 1),
            a5 = c(0, 0, 1, 0, -1))
nonlin <- list(
  X0 = quote((b2 * b4 - 2 * b1 * b5) / (4 * b3 * b5 - b4^2)),
  Y0 = quote((b1 * b4 - 2 * b2 * b3) / (4 * b3 * b5 - b4^2)),
  p11 = quote((b5 - b3 + sqrt((b3 - b5)^2 + b4^2)) / b4),
  p21 = quote((b5 - b3 - sqrt((b3 - b5)^2 + b4^2)) / b4),
  p10 = quote((b1 * b4 - 2 * b2 * b3) / (4 * b3 * b5 - b4^2) -
              (b5 - b3 + sqrt((b3 - b5)^2 + b4^2)) / b4 * (b2 * b4 - 2 * b1 * b5) / (4 * b3 * b5 - b4^2)),
  p20 = quote((b1 * b4 - 2 * b2 * b3) / (4 * b3 * b5 - b4^2) -
              (b5 - b3 - sqrt((b3 - b5)^2 + b4^2)) / b4 * (b2 * b4 - 2 * b1 * b5) / (4 * b3 * b5 - b4^2)))
# X - Y where the first principal axis crosses the line of incongruence X = -Y: -2 p10 / (1 + p11)
nonlin$lateral_shift <- substitute(-2 * P10 / (1 + P11), list(P10 = nonlin$p10, P11 = nonlin$p11))

surface <- function(fit, dist) {
  b <- coef(fit)[bn]; V <- vcov(fit)[bn, bn]
  df <- if (dist == "t") df.residual(fit) else Inf
  pv <- function(t) 2 * pt(-abs(t), df)
  out <- list(coefficients = list(), surface = list(), nonlinear = list())
  for (i in 1:5) {
    se <- sqrt(V[i, i])
    out$coefficients[[paste0("b", i)]] <- list(est = unname(b[i]), se = se, pvalue = pv(b[i] / se))
  }
  for (k in names(lin)) {
    cc <- lin[[k]]; est <- sum(cc * b); se <- sqrt(drop(t(cc) %*% V %*% cc))
    out$surface[[k]] <- list(est = est, se = se, pvalue = pv(est / se))
  }
  env <- setNames(as.list(unname(b)), paste0("b", 1:5))
  for (k in names(nonlin)) {
    g <- deriv(nonlin[[k]], paste0("b", 1:5))
    val <- eval(g, env); grad <- attr(val, "gradient")
    se <- sqrt(drop(grad %*% V %*% t(grad)))
    out$nonlinear[[k]] <- list(est = as.numeric(val), se = se, pvalue = 2 * pnorm(-abs(as.numeric(val) / se)))
  }
  p11 <- out$nonlinear$p11; p10 <- out$nonlinear$p10
  out$congruence_tests <- list(p10_eq_0 = 2 * pnorm(-abs(p10$est / p10$se)),
                               p11_eq_1 = 2 * pnorm(-abs((p11$est - 1) / p11$se)))
  out
}

## ---------------------------------------------------------------- gaussian
full <- lm(Z ~ Xc + Yc + X2 + XY + Y2, data = d)
gauss <- surface(full, "t")
gauss$n <- nobs(full); gauss$r2 <- summary(full)$r.squared; gauss$df_resid <- df.residual(full)
gauss$intercept <- unname(coef(full)[1])
gauss$aic <- AIC(full); gauss$bic <- BIC(full)

constrained_fits <- function(resp, fam) {
  f <- function(rhs) {
    fo <- as.formula(paste(resp, "~", rhs))
    if (is.null(fam)) lm(fo, data = d) else glm(fo, data = d, family = fam)
  }
  list(linear = f("Xc + Yc"),
       difference = f("I(Xc - Yc)"),
       squared_difference = f("I((Xc - Yc)^2)"),
       shifted_squared_difference = f("I(Xc - Yc) + I((Xc - Yc)^2)"),
       rising_ridge = f("I(Xc + Yc) + I((Xc - Yc)^2)"))
}
cm <- list()
for (k in names(cf <- constrained_fits("Z", NULL))) {
  a <- anova(cf[[k]], full)
  cm[[k]] <- list(F = a$F[2], df1 = a$Df[2], df2 = a$Res.Df[2], pvalue = a[["Pr(>F)"]][2],
                  aic = AIC(cf[[k]]), bic = BIC(cf[[k]]), r2 = summary(cf[[k]])$r.squared)
}
gauss$constrained <- cm

# lavaan := (ML): same point values, delta SEs from the ML vcov (divisor n)
lav_model <- '
  Z ~ b1*Xc + b2*Yc + b3*X2 + b4*XY + b5*Y2
  a1 := b1 + b2
  a2 := b3 + b4 + b5
  a3 := b1 - b2
  a4 := b3 - b4 + b5
  a5 := b3 - b5
  X0 := (b2*b4 - 2*b1*b5) / (4*b3*b5 - b4^2)
  Y0 := (b1*b4 - 2*b2*b3) / (4*b3*b5 - b4^2)
  p11 := (b5 - b3 + sqrt((b3 - b5)^2 + b4^2)) / b4
  p21 := (b5 - b3 - sqrt((b3 - b5)^2 + b4^2)) / b4
  p10 := Y0 - p11*X0
  p20 := Y0 - p21*X0
  lateral_shift := -2*p10 / (1 + p11)
'
lfit <- sem(lav_model, data = d, meanstructure = TRUE, control = list(rel.tol = 1e-14, abs.tol = 1e-20,
                                                                       iter.max = 10000))
pe <- parameterEstimates(lfit)
pe <- pe[pe$label != "", ]
gauss$lavaan <- setNames(lapply(seq_len(nrow(pe)), function(i) list(est = pe$est[i], se = pe$se[i])), pe$label)

# with a covariate
fullc <- lm(Z ~ Xc + Yc + X2 + XY + Y2 + cv, data = d)
gc <- surface(fullc, "t")
gc$r2 <- summary(fullc)$r.squared; gc$cv <- list(est = unname(coef(fullc)["cv"]),
                                                 se = unname(sqrt(vcov(fullc)["cv", "cv"])))

## ---------------------------------------------------------------- binomial (logit scale)
bfull <- glm(zbin ~ Xc + Yc + X2 + XY + Y2, data = d, family = binomial, control = glm.control(epsilon = 1e-14,
                                                                                             maxit = 100))
binom <- surface(bfull, "z")
binom$n <- nobs(bfull); binom$aic <- AIC(bfull); binom$bic <- BIC(bfull)
binom$mcfadden_r2 <- 1 - as.numeric(logLik(bfull)) /
  as.numeric(logLik(glm(zbin ~ 1, data = d, family = binomial)))
cm <- list()
for (k in names(cf <- constrained_fits("zbin", binomial))) {
  a <- anova(cf[[k]], bfull, test = "Chisq")
  cm[[k]] <- list(chi2 = a$Deviance[2], df1 = a$Df[2], pvalue = a[["Pr(>Chi)"]][2],
                  aic = AIC(cf[[k]]), bic = BIC(cf[[k]]))
}
binom$constrained <- cm

## ---------------------------------------------------------------- shares
zx <- (X - mean(X)) / sd(X); zy <- (Y - mean(Y)) / sd(Y); dz <- zx - zy
dr <- X - Y
shares <- list(
  standardized = list(x_greater = mean(dz >= 0.5), agree = mean(abs(dz) < 0.5), y_greater = mean(dz <= -0.5)),
  raw = list(x_greater = mean(dr > 0.5 + 1e-9), agree = mean(abs(dr) <= 0.5 + 1e-9),
             y_greater = mean(dr < -0.5 - 1e-9)))

out <- list(center = 4, gaussian = gauss, gaussian_cov = gc, binomial = binom, shares = shares,
            true_b = c(0.30, 0.20, -0.25, 0.20, -0.20), R = R.version.string,
            lavaan = as.character(packageVersion("lavaan")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "rsa_reference.json")
cat("done\n")
