# Reference values for "right n" on wide exports and for psych::alpha(keys = ) (issue 13, points 1 and 4).
#
# Run from the repository root:
#     Rscript tests/reference/validate/wide_scale_reference.R
# It writes tests/reference/validate/wide_scale.csv (the data) and wide_scale_reference.json (same JSON
# conventions as make_reference.R: 15 significant digits, NA -> null). Used by tests/test_right_n.py; R is not
# needed to run the tests.
#
# The data imitate a Qualtrics export of an instrument with provider and customer versions: 260 rows, the
# provider version's five items p1..p5 (p4 worded in reverse) and the customer version's five items c1..c5.
# Rows 1-160 are providers (c1..c5 empty; a few single p-items skipped), rows 161-260 customers (p1..p5 empty).
# psych counts nrow(x) = 260 respondents for the provider scale; vccscale counts the 160 rows that answered at
# least one of p1..p5. The values below are psych's on the provider rows only (what vccscale must reproduce)
# and psych's on all 260 rows (what vccscale must *not* report).

suppressPackageStartupMessages({ library(jsonlite); library(psych) })
out_dir <- "tests/reference/validate"
if (!dir.exists(out_dir)) stop("run from the repository root")

set.seed(13)
n_p <- 160; n_c <- 100
likert <- function(z) pmin(7, pmax(1, round(4 + 1.3 * z)))
gen <- function(n, lam) {
  f <- rnorm(n)
  sapply(lam, function(l) likert(l * f + sqrt(1 - l^2) * rnorm(n)))
}
p <- gen(n_p, c(.75, .7, .65, -.6, .7))          # p4 reverse-worded: loads negatively
p[cbind(sample(n_p, 12, replace = TRUE), sample(5, 12, replace = TRUE))] <- NA   # item non-response
cc <- gen(n_c, c(.7, .7, .6, .6, .65))
wide <- data.frame(ResponseId = sprintf("R_%03d", 1:(n_p + n_c)),
                   p = rbind(p, matrix(NA, n_c, 5)), c = rbind(matrix(NA, n_p, 5), cc))
names(wide) <- c("ResponseId", paste0("p", 1:5), paste0("c", 1:5))
write.csv(wide, file.path(out_dir, "wide_scale.csv"), row.names = FALSE, na = "")

x_all <- wide[, paste0("p", 1:5)]
answered <- rowSums(!is.na(x_all)) > 0
x <- x_all[answered, ]

num <- function(v) { v <- as.numeric(v); v[!is.finite(v)] <- NA; v }
alpha_entry <- function(a, call) {
  t <- a$total
  list(call = call,
       raw_alpha = t$raw_alpha, std_alpha = t$std.alpha, g6 = t[["G6(smc)"]], average_r = t$average_r,
       ase = t$ase, mean = t$mean, sd = t$sd,
       feldt_lower = a$feldt$lower.ci[[1]], feldt_upper = a$feldt$upper.ci[[1]],
       keys = as.character(unlist(a$keys)),
       item_mean = setNames(as.list(a$item.stats$mean), rownames(a$item.stats)),
       r_drop = setNames(as.list(a$item.stats$r.drop), rownames(a$item.stats)),
       alpha_drop = setNames(as.list(a$alpha.drop$raw_alpha), rownames(a$alpha.drop)))
}
`%||%` <- function(a, b) if (is.null(a)) b else a

out <- list(versions = list(R = R.version.string, psych = as.character(packageVersion("psych"))),
            n_rows = nrow(wide), n_answered = sum(answered), items = paste0("p", 1:5))
# psych::alpha as psych counts it: n = nrow(x)
quiet <- function(expr) { capture.output(v <- suppressWarnings(expr)); v }
out$alpha_answered_rows <- alpha_entry(quiet(alpha(x)), "alpha(x[answered, ])")
out$alpha_all_rows <- alpha_entry(quiet(alpha(x_all)), "alpha(x) on all 260 rows (psych's n)")
out$alpha_keys_p4 <- alpha_entry(alpha(x, keys = c("p4")), "alpha(x[answered, ], keys = c('p4'))")
out$alpha_check_keys <- alpha_entry(suppressWarnings(alpha(x, check.keys = TRUE)),
                                    "alpha(x[answered, ], check.keys = TRUE)")
out$alpha_ci_answered <- list(call = "alpha.ci(raw_alpha, n.obs = 160, n.var = 5)",
                              value = num(unlist(alpha.ci(out$alpha_answered_rows$raw_alpha, sum(answered), 5))))
# omega after reversing p4 as alpha(keys =) does: min + max - x over all items
xr <- x; xr$p4 <- min(x, na.rm = TRUE) + max(x, na.rm = TRUE) - xr$p4
o <- suppressWarnings(suppressMessages(omega(xr, nfactors = 1, plot = FALSE)))
out$omega_keys_p4 <- list(call = "omega(x[answered, ] with p4 reversed, nfactors = 1)",
                          omega_tot = o$omega.tot, omega_h = o$omega_h)
# Bartlett: cortest.bartlett on raw data takes n = nrow(x)
b <- suppressMessages(cortest.bartlett(x))
b_all <- suppressMessages(cortest.bartlett(x_all))
out$bartlett_answered_rows <- list(call = "cortest.bartlett(x[answered, ])", n = sum(answered),
                                   chisq = b$chisq, df = b$df, p_value = b$p.value)
out$bartlett_all_rows <- list(call = "cortest.bartlett(x) on all 260 rows", n = nrow(x_all),
                              chisq = b_all$chisq, df = b_all$df, p_value = b_all$p.value)
# fa: n.obs = nrow(x) enters the chi-square, RMSEA, TLI and BIC
f <- fa(xr, 1)
out$fa_answered_rows <- list(call = "fa(x[answered, ] with p4 reversed, 1)", n_obs = f$n.obs,
                             STATISTIC = f$STATISTIC, dof = f$dof, RMSEA = num(f$RMSEA[1]), TLI = f$TLI,
                             BIC = f$BIC, objective = f$objective)
txt <- toJSON(out, digits = NA, na = "null", null = "null", auto_unbox = TRUE, dataframe = "rows", pretty = TRUE)
writeLines(txt, file.path(out_dir, "wide_scale_reference.json"), useBytes = TRUE)
