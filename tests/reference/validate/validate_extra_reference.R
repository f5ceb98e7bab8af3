# Extra reference values for vccscale.validate (complements make_reference.R, which writes bfi_psych.json and
# hs_cfa_ml.json; this script only reads the CSVs that make_reference.R writes).
#
# Run from the repository root:
#     Rscript tests/reference/validate/validate_extra_reference.R
# It writes tests/reference/validate/validate_extra_reference.json (same JSON conventions as make_reference.R:
# 15 significant digits, NA -> null, matrices as {"rownames", "colnames", "values" (row-major)}).
# Used by tests/test_validate_*.py; R is not needed to run the tests.

suppressPackageStartupMessages({
  library(jsonlite); library(lavaan); library(semTools); library(psych); library(GPArotation)
})
out_dir <- "tests/reference/validate"
if (!dir.exists(out_dir)) stop("run from the repository root")

num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }
vec <- function(v) { nm <- names(v); v <- num(unclass(v)); names(v) <- nm; as.list(v) }
mat <- function(m) {
  m <- as.matrix(unclass(m)); list(rownames = rownames(m), colnames = colnames(m),
                                   values = matrix(num(m), nrow(m), ncol(m)))
}
bfi <- read.csv(file.path(out_dir, "bfi.csv"))
hs <- read.csv(file.path(out_dir, "HolzingerSwineford1939.csv"))
items <- names(bfi)[1:25]
x <- bfi[, items]
out <- list(versions = list(R = R.version.string, psych = as.character(packageVersion("psych")),
                            GPArotation = as.character(packageVersion("GPArotation")),
                            semTools = as.character(packageVersion("semTools")),
                            lavaan = as.character(packageVersion("lavaan"))))

fa_entry <- function(f, call) list(call = call, loadings = mat(f$loadings),
  Phi = if (is.null(f$Phi)) NULL else mat(f$Phi), h2 = vec(f$communality), u2 = vec(f$uniquenesses),
  values = num(f$values), e_values = num(f$e.values), Vaccounted = mat(f$Vaccounted),
  objective = f$objective, STATISTIC = f$STATISTIC, dof = f$dof, TLI = f$TLI, RMSEA = num(f$RMSEA[1]),
  BIC = f$BIC, rms = f$rms, complexity = vec(f$complexity))

# ---- fa: the rotations/methods not in bfi_psych.json
fa_specs <- list(c("minres", "varimax"), c("minres", "geominQ"), c("minres", "geominT"), c("minres", "quartimin"),
                 c("minres", "none"), c("ml", "oblimin"), c("ml", "promax"), c("pa", "oblimin"))
out$fa <- list()
for (s in fa_specs) {
  cl <- sprintf("fa(bfi25, 5, fm = '%s', rotate = '%s')", s[1], s[2])
  out$fa[[paste0(s[1], "_", s[2])]] <- fa_entry(fa(x, 5, fm = s[1], rotate = s[2]), cl)
}
out$fa$ml3_NO <- fa_entry(fa(x[, 16:25], 3, fm = "ml", rotate = "oblimin"), "fa(bfi25[, N1:O5], 3, fm = 'ml')")
out$fa$minres1_A <- fa_entry(fa(x[, 1:5], 1), "fa(bfi25[, A1:A5], 1)")
out$fa_sort_minres_oblimin <- rownames(fa.sort(fa(x, 5))$loadings)

# ---- omega
om <- function(o) list(omega_tot = o$omega.tot, omega_h = o$omega_h, omega_lim = o$omega.lim, alpha = o$alpha,
                       G6 = o$G6, ECV = num(o$ECV), key = num(o$key), sl = mat(o$schmid$sl),
                       omega_group = list(rownames = rownames(o$omega.group), total = num(o$omega.group$total),
                                          general = num(o$omega.group$general), group = num(o$omega.group$group)))
out$omega <- list(
  bfi25_3 = c(call = "omega(bfi25, nfactors = 3, plot = FALSE)", om(omega(x, 3, plot = FALSE))),
  bfi25_5 = c(call = "omega(bfi25, nfactors = 5, plot = FALSE)", om(omega(x, 5, plot = FALSE))),
  NO_2 = c(call = "omega(bfi25[, N1:O5], nfactors = 2, plot = FALSE)",
           om(suppressMessages(omega(x[, 16:25], 2, plot = FALSE)))),
  N_1 = c(call = "omega(bfi25[, N1:N5], nfactors = 1, plot = FALSE)",
          om(suppressWarnings(suppressMessages(omega(x[, 16:20], 1, plot = FALSE))))))

# ---- alpha without reverse keys, and the negative-loading detection
al <- function(a) list(total = as.list(a$total), alpha_drop = a$alpha.drop, item_stats = a$item.stats,
                       feldt = list(lower = num(a$feldt$lower.ci), upper = num(a$feldt$upper.ci)),
                       keys = unname(unlist(a$keys)))
out$alpha <- list(N = c(call = "alpha(bfi25[, N1:N5])", al(alpha(x[, 16:20]))),
                  C_nokeys = c(call = "alpha(bfi25[, C1:C5], check.keys = FALSE)",
                               al(suppressWarnings(alpha(x[, 6:10], check.keys = FALSE)))),
                  O_keys = c(call = "alpha(bfi25[, O1:O5], check.keys = TRUE)",
                             al(suppressWarnings(alpha(x[, 21:25], check.keys = TRUE)))),
                  E_ci90 = list(call = "alpha.ci(alpha(bfi25[, E1:E5], check.keys = TRUE)$total$raw_alpha, 2800, 5, p.val = 0.10)"))
aE <- suppressWarnings(alpha(x[, 11:15], check.keys = TRUE))$total$raw_alpha
ciE <- alpha.ci(aE, 2800, 5, p.val = 0.10)
out$alpha$E_ci90$lower <- num(ciE$lower.ci)
out$alpha$E_ci90$upper <- num(ciE$upper.ci)
out$alpha$E_ci90$raw_alpha <- aE

# ---- one-factor CFA omega / AVE (lavaan ML, complete cases)
fitN <- cfa("N =~ N1 + N2 + N3 + N4 + N5", data = x, std.lv = TRUE)
out$cfa_N <- list(call = "cfa('N =~ N1 + N2 + N3 + N4 + N5', data = bfi25, std.lv = TRUE)",
                  nobs = lavInspect(fitN, "nobs"),
                  compRelSEM = num(compRelSEM(fitN)), compRelSEM_obs_var_false = num(compRelSEM(fitN, obs.var = FALSE)),
                  AVE = num(AVE(fitN)), AVE_obs_var_false = num(AVE(fitN, obs.var = FALSE)),
                  lambda = num(lavInspect(fitN, "est")$lambda[, 1]), theta = num(diag(lavInspect(fitN, "est")$theta)))

# ---- HTMT on bfi blocks (listwise), both variants, signed classic
mb <- "A =~ A2 + A3 + A4 + A5\n C =~ C1 + C2 + C3\n E =~ E3 + E4 + E5\n N =~ N1 + N2 + N3 + N4 + N5"
out$htmt_bfi <- list(model = mb, htmt2 = mat(htmt(mb, bfi)), htmt = mat(htmt(mb, bfi, htmt2 = FALSE)),
                     htmt_signed = mat(htmt(mb, bfi, htmt2 = FALSE, absolute = FALSE)))
mr <- "A =~ A1 + A2 + A3\n C =~ C1 + C4 + C5"  # reverse-keyed items left in: signed vs absolute differ
out$htmt_signs <- list(model = mr, htmt = mat(htmt(mr, bfi, htmt2 = FALSE)),
                       htmt_signed = mat(htmt(mr, bfi, htmt2 = FALSE, absolute = FALSE)),
                       htmt2 = mat(htmt(mr, bfi)))

# ---- common latent factor (equal method loadings = loadings fixed at 1, free variance; orthogonal to traits)
m_clf <- paste0(mb, "\n CMV =~ ", paste0("1*", c("A2", "A3", "A4", "A5", "C1", "C2", "C3", "E3", "E4", "E5",
                                                   "N1", "N2", "N3", "N4", "N5"), collapse = " + "),
                "\n CMV ~~ 0*A\n CMV ~~ 0*C\n CMV ~~ 0*E\n CMV ~~ 0*N")
s0 <- standardizedSolution(cfa(mb, data = bfi)); s1 <- standardizedSolution(cfa(m_clf, data = bfi))
s0 <- s0[s0$op == "=~", ]; s1 <- s1[s1$op == "=~", ]
out$clf_bfi <- list(model = m_clf, item = s0$rhs, std_base = num(s0$est.std),
                    std_clf = num(s1$est.std[s1$lhs != "CMV"]), std_cmv = num(s1$est.std[s1$lhs == "CMV"]))

# ---- HS: AVE with obs.var = FALSE (bfi_psych / hs_cfa_ml have the defaults)
m_hs <- "visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9"
fit_hs <- cfa(m_hs, data = hs)
out$hs <- list(AVE_obs_var_false = vec(AVE(fit_hs, obs.var = FALSE)),
               compRelSEM_obs_var_false = vec(compRelSEM(fit_hs, obs.var = FALSE)))

# ---- Harman: first unrotated component / factor
out$harman <- list(pca = unname(principal(x, 1)$Vaccounted["Proportion Var", 1]),
                   minres = unname(fa(x, 1, rotate = "none")$Vaccounted["Proportion Var", 1]),
                   call = "principal(bfi25, 1)$Vaccounted['Proportion Var', 1]; fa(bfi25, 1)")

# ---- parallel analysis: deterministic observed eigenvalues (fa = "both")
options(mc.cores = 1); set.seed(1)
pa <- fa.parallel(x, fa = "both", n.iter = 20, plot = FALSE)
out$fa_parallel_both <- list(call = "set.seed(1); fa.parallel(bfi25, fa = 'both', n.iter = 20)",
                             pc_values = num(pa$pc.values), fa_values = num(pa$fa.values),
                             nfact = pa$nfact, ncomp = pa$ncomp, pc_sim = num(pa$pc.sim), fa_sim = num(pa$fa.sim))

txt <- toJSON(out, digits = NA, na = "null", null = "null", auto_unbox = TRUE, dataframe = "rows",
              matrix = "rowmajor", pretty = FALSE)
writeLines(txt, file.path(out_dir, "validate_extra_reference.json"), useBytes = TRUE)
cat("wrote validate_extra_reference.json\n")
