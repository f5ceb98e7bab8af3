# Reference values for vccscale.models (mediation / moderation) from lavaan 0.6-14.
# Run from this directory:  Rscript mediation_reference.R
# Writes mediation_data.csv, latent_data.csv and mediation_reference.json.
suppressMessages({library(lavaan); library(jsonlite)})
stopifnot(packageVersion("lavaan") == "0.6.14")

## ------------------------------------------------------------------ observed (composite) data
set.seed(20240611)
n <- 300
x  <- rnorm(n)
w  <- rnorm(n)
cv <- rnorm(n)
m1 <- 0.40 * x + 0.20 * w + 0.25 * x * w + rnorm(n)
m2 <- 0.30 * x + 0.35 * m1 + rnorm(n)
y  <- 0.35 * m1 + 0.25 * m2 + 0.15 * x + 0.20 * m1 * w + 0.10 * cv + rnorm(n)
# rounded so that the CSV holds the exact values used here
d <- data.frame(x = round(x, 6), w = round(w, 6), cv = round(cv, 6), m1 = round(m1, 6), m2 = round(m2, 6),
                y = round(y, 6))
write.csv(d, "mediation_data.csv", row.names = FALSE)

pe_list <- function(fit, ...) {
  pe <- parameterEstimates(fit, ...)
  list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, label = pe$label, est = pe$est, se = pe$se,
       ci_lower = pe$ci.lower, ci_upper = pe$ci.upper)
}

simple <- '
  m1 ~ a*x
  y ~ b*m1 + c*x
  ind := a*b
  total := c + a*b
'
fit_std <- sem(simple, data = d)
set.seed(1)
t_boot <- system.time(fit_boot <- sem(simple, data = d, se = "bootstrap", bootstrap = 1000))
BOOT <- lavInspect(fit_boot, "boot")          # free parameters, one row per successful draw
BOOT_def <- t(apply(BOOT, 1, fit_boot@Model@def.function))

parallel <- '
  m1 ~ a1*x + cv
  m2 ~ a2*x + cv
  y ~ b1*m1 + b2*m2 + c*x + cv
  m1 ~~ m2            # correlated mediator residuals: the saturated (OLS) parallel model
  ind1 := a1*b1
  ind2 := a2*b2
  total := c + a1*b1 + a2*b2
'
serial <- '
  m1 ~ a1*x
  m2 ~ a2*x + d21*m1
  y ~ b1*m1 + b2*m2 + c*x
  ind1 := a1*b1
  ind2 := a2*b2
  ind3 := a1*d21*b2
  total := c + a1*b1 + a2*b2 + a1*d21*b2
'
fit_par <- sem(parallel, data = d)
fit_ser <- sem(serial, data = d)

## ------------------------------------------------------------------ latent data (3 factors x 3 indicators)
set.seed(777)
X <- rnorm(n)
M <- 0.5 * X + rnorm(n, sd = sqrt(0.75))
Y <- 0.4 * M + 0.2 * X + rnorm(n, sd = 0.8)
ind <- function(f, lam) sapply(lam, function(l) round(l * f + rnorm(n, sd = 0.6), 6))
L <- data.frame(ind(X, c(1, .8, .9)), ind(M, c(1, .7, .85)), ind(Y, c(1, .9, .75)))
names(L) <- c("x1", "x2", "x3", "m1", "m2", "m3", "y1", "y2", "y3")
write.csv(L, "latent_data.csv", row.names = FALSE)
latent <- '
  X =~ x1 + x2 + x3
  M =~ m1 + m2 + m3
  Y =~ y1 + y2 + y3
  M ~ a*X
  Y ~ b*M + c*X
  ind := a*b
  total := c + a*b
'
latent_full <- '
  X =~ x1 + x2 + x3
  M =~ m1 + m2 + m3
  Y =~ y1 + y2 + y3
  M ~ a*X
  Y ~ b*M + 0*X
  ind := a*b
'
fit_lat <- sem(latent, data = L)
fit_lat_full <- sem(latent_full, data = L)
an <- anova(fit_lat_full, fit_lat)
set.seed(2)
t_lboot <- system.time(fit_lat_boot <- sem(latent, data = L, se = "bootstrap", bootstrap = 1000))

out <- list(
  lavaan = as.character(packageVersion("lavaan")),
  simple = list(standard = pe_list(fit_std),
                boot = list(R = nrow(BOOT), seconds = unname(t_boot["elapsed"]),
                            perc = pe_list(fit_boot, boot.ci.type = "perc"),
                            bc = pe_list(fit_boot, boot.ci.type = "bca.simple"),
                            draws = list(a = BOOT[, 1], b = BOOT[, 2], c = BOOT[, 3],
                                         ind = BOOT_def[, 1], total = BOOT_def[, 2]))),
  parallel = pe_list(fit_par), serial = pe_list(fit_ser),
  latent = list(partial = pe_list(fit_lat), full = pe_list(fit_lat_full),
                chisq_partial = unname(fitMeasures(fit_lat, "chisq")), df_partial = unname(fitMeasures(fit_lat, "df")),
                chisq_full = unname(fitMeasures(fit_lat_full, "chisq")), df_full = unname(fitMeasures(fit_lat_full, "df")),
                chisq_diff = an[["Chisq diff"]][2], df_diff = an[["Df diff"]][2], p_diff = an[["Pr(>Chisq)"]][2],
                boot = list(R = nrow(lavInspect(fit_lat_boot, "boot")), seconds = unname(t_lboot["elapsed"]),
                            perc = pe_list(fit_lat_boot, boot.ci.type = "perc")))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "mediation_reference.json")
cat("boot seconds (simple, latent):", t_boot["elapsed"], t_lboot["elapsed"], "\n")
