# Reference values for validating vccscale's measurement-model code against lavaan / semTools / psych.
#
# Run from the repository root:
#     Rscript tests/reference/validate/make_reference.R
# It (re)writes, in tests/reference/validate/:
#   HolzingerSwineford1939.csv, PoliticalDemocracy.csv, bfi.csv       (public data sets, 15 significant digits)
#   hs_cfa_ml.json, hs_cfa_mlr.json, hs_invariance.json, poldem_sem.json, bfi_psych.json,
#   cfa30_n1000.json (only if cfa30_n1000.csv exists; that file is written by benchmarks/lavaan_timings.R)
#   sessionInfo.txt
# JSON: jsonlite::toJSON(digits = NA) (15 significant digits), NA / NaN / Inf -> null, data frames as arrays of
# row objects, matrices as {"rownames", "colnames", "values" (row-major array of rows)}.
# The Python test suite only reads these files; R is not needed to run the tests.

suppressPackageStartupMessages({
  library(jsonlite)
  library(lavaan)
  library(semTools)
  library(psych)
  library(GPArotation)
})

out_dir <- "tests/reference/validate"
if (!dir.exists(out_dir)) stop("run from the repository root")

# ------------------------------------------------------------------------------------------------- helpers
num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }
vec <- function(v) {                       # named numeric vector -> named list (JSON object)
  nm <- names(v); v <- num(unclass(v)); names(v) <- nm; as.list(v)
}
mat <- function(m) {
  m <- as.matrix(unclass(m))
  v <- matrix(num(m), nrow(m), ncol(m))
  list(rownames = rownames(m), colnames = colnames(m), values = v)
}
rows <- function(df, cols = names(df)) {   # data frame -> list-of-rows friendly data.frame
  df <- as.data.frame(df)[, intersect(cols, names(df)), drop = FALSE]
  for (j in seq_along(df)) {
    if (is.numeric(df[[j]])) df[[j]] <- num(df[[j]])
    else df[[j]] <- as.character(df[[j]])
  }
  rownames(df) <- NULL
  df
}
write_json_file <- function(x, file) {
  txt <- toJSON(x, digits = NA, na = "null", null = "null", auto_unbox = TRUE,
                dataframe = "rows", matrix = "rowmajor", pretty = FALSE)
  writeLines(txt, file.path(out_dir, file), useBytes = TRUE)
  cat(sprintf("wrote %-28s %8d bytes\n", file, file.size(file.path(out_dir, file))))
}
write_csv_file <- function(df, file) {
  # write.csv uses 15 significant digits; NA written as empty field
  write.csv(df, file.path(out_dir, file), row.names = FALSE, na = "")
  cat(sprintf("wrote %-28s %8d bytes\n", file, file.size(file.path(out_dir, file))))
}
versions <- list(R = R.version.string,
                 lavaan = as.character(packageVersion("lavaan")),
                 semTools = as.character(packageVersion("semTools")),
                 psych = as.character(packageVersion("psych")),
                 GPArotation = as.character(packageVersion("GPArotation")),
                 jsonlite = as.character(packageVersion("jsonlite")))
pe_cols <- c("lhs", "op", "rhs", "block", "group", "label", "est", "se", "z", "pvalue",
             "ci.lower", "ci.upper", "std.lv", "std.all", "std.nox")

# ------------------------------------------------------------------------------------------------- 1. data
HS <- lavaan::HolzingerSwineford1939
PD <- lavaan::PoliticalDemocracy
data(bfi, package = "psych")
bfi <- psych::bfi
HS_out <- HS; HS_out$school <- as.character(HS_out$school)
write_csv_file(HS_out, "HolzingerSwineford1939.csv")
write_csv_file(PD, "PoliticalDemocracy.csv")
write_csv_file(bfi, "bfi.csv")

# ------------------------------------------------------------------------------------------------- 2. HS CFA (ML)
hs_model <- ' visual =~ x1 + x2 + x3 \n textual =~ x4 + x5 + x6 \n speed =~ x7 + x8 + x9 '
fit <- cfa(hs_model, data = HS, estimator = "ML")
fit_lv <- cfa(hs_model, data = HS, estimator = "ML", std.lv = TRUE)
mi <- modindices(fit)
ss <- lavInspect(fit, "sampstat")
cr_default <- compRelSEM(fit)                         # obs.var = TRUE, tau.eq = FALSE
cr_implied <- compRelSEM(fit, obs.var = FALSE)        # model-implied total variance in denominator
cr_alpha   <- compRelSEM(fit, tau.eq = TRUE)          # tau-equivalent (coefficient alpha from sample cov)
ave <- AVE(fit)
htmt_T <- htmt(hs_model, data = HS, htmt2 = TRUE)
htmt_F <- htmt(hs_model, data = HS, htmt2 = FALSE)

hs_ml <- list(
  versions = versions,
  call = 'cfa(model, data = HolzingerSwineford1939, estimator = "ML")',
  model = hs_model,
  nobs = lavInspect(fit, "nobs"),
  fit_measures = vec(fitMeasures(fit)),
  parameter_estimates = rows(parameterEstimates(fit, standardized = TRUE), pe_cols),
  modindices = rows(mi, c("lhs", "op", "rhs", "mi", "epc", "sepc.lv", "sepc.all", "sepc.nox")),
  modindices_call = "modindices(fit)  # defaults: standardized = TRUE, power = FALSE, minimum.value = 0, free.remove = TRUE",
  fitted_cov = mat(fitted(fit)$cov),
  sample_cov = mat(ss$cov),
  sample_cov_note = "lavInspect(fit, 'sampstat')$cov: ML divisor N (sample.cov.rescale = TRUE)",
  sample_mean = vec(ss$mean),
  implied_cov_note = "fitted(fit)$cov (model-implied Sigma)",
  std_lv = list(
    call = 'cfa(model, data = HolzingerSwineford1939, estimator = "ML", std.lv = TRUE)',
    fit_measures = vec(fitMeasures(fit_lv, c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "logl"))),
    parameter_estimates = rows(parameterEstimates(fit_lv), c("lhs", "op", "rhs", "est", "se", "z", "pvalue"))
  ),
  comp_rel = list(
    default = vec(cr_default),
    default_call = "compRelSEM(fit)  # semTools 0.5-6 defaults: obs.var = TRUE, tau.eq = FALSE (omega, congeneric; denominator = observed/sample variance of the unit-weighted composite)",
    obs_var_false = vec(cr_implied),
    obs_var_false_call = "compRelSEM(fit, obs.var = FALSE)  # denominator = model-implied composite variance",
    tau_eq = vec(cr_alpha),
    tau_eq_call = "compRelSEM(fit, tau.eq = TRUE)  # coefficient alpha"
  ),
  ave = vec(ave),
  ave_call = "AVE(fit)  # semTools 0.5-6: obs.var = TRUE (sum of squared std loadings over sum of observed variances)",
  htmt = list(
    default_htmt2 = eval(formals(semTools::htmt)$htmt2),
    htmt2_true = mat(htmt_T),
    htmt2_true_call = "htmt(model, data = HS, htmt2 = TRUE)  # default in semTools 0.5-6: geometric-mean HTMT2 (Roemer et al. 2021)",
    htmt2_false = mat(htmt_F),
    htmt2_false_call = "htmt(model, data = HS, htmt2 = FALSE)  # original arithmetic-mean HTMT (Henseler et al. 2015)",
    note = "full symmetric factor x factor matrix (diag 1); absolute = TRUE, missing = 'listwise'; computed from item correlations"
  ),
  cor_lv = mat(lavInspect(fit, "cor.lv")),
  cov_lv = mat(lavInspect(fit, "cov.lv")),
  std_loadings = mat(lavInspect(fit, "std")$lambda),
  r2 = vec(lavInspect(fit, "r2"))
)
write_json_file(hs_ml, "hs_cfa_ml.json")

# ------------------------------------------------------------------------------------------------- 3. HS CFA (MLR)
fit_mlr <- cfa(hs_model, data = HS, estimator = "MLR")
hs_mlr <- list(
  versions = versions,
  call = 'cfa(model, data = HolzingerSwineford1939, estimator = "MLR")',
  model = hs_model,
  options = list(se = lavInspect(fit_mlr, "options")$se, test = lavInspect(fit_mlr, "options")$test,
                 information = lavInspect(fit_mlr, "options")$information),
  fit_measures = vec(fitMeasures(fit_mlr)),
  parameter_estimates = rows(parameterEstimates(fit_mlr, standardized = TRUE), pe_cols)
)
write_json_file(hs_mlr, "hs_cfa_mlr.json")

# ------------------------------------------------------------------------------------------------- 4. invariance
inv_fm <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic", "logl", "npar")
inv_fm_mlr <- c(inv_fm, "chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
                "cfi.scaled", "tli.scaled", "rmsea.scaled", "cfi.robust", "tli.robust", "rmsea.robust")
fit_inv <- function(est) {
  list(
    configural = cfa(hs_model, data = HS, group = "school", estimator = est),
    metric = cfa(hs_model, data = HS, group = "school", estimator = est, group.equal = "loadings"),
    scalar = cfa(hs_model, data = HS, group = "school", estimator = est,
                 group.equal = c("loadings", "intercepts")),
    strict = cfa(hs_model, data = HS, group = "school", estimator = est,
                 group.equal = c("loadings", "intercepts", "residuals"))
  )
}
lrt_rows <- function(tab) {
  df <- as.data.frame(tab)
  df <- cbind(model = rownames(df), df)
  rows(df)
}
inv_ml <- fit_inv("ML")
inv_mlr <- fit_inv("MLR")
lrt_ml <- lavTestLRT(inv_ml$configural, inv_ml$metric, inv_ml$scalar, inv_ml$strict,
                     model.names = names(inv_ml))
lrt_mlr <- lavTestLRT(inv_mlr$configural, inv_mlr$metric, inv_mlr$scalar, inv_mlr$strict,
                      model.names = names(inv_mlr))
sc <- inv_ml$scalar
pe_sc <- parameterEstimates(sc, standardized = TRUE)
lv_names <- lavNames(sc, "lv")
latent_means <- pe_sc[pe_sc$op == "~1" & pe_sc$lhs %in% lv_names, ]
score <- lavTestScore(sc)
pt <- parTable(sc)
# map plabels (".p1.") of the univariate score tests to parameters
pmap <- setNames(paste0(pt$lhs, pt$op, pt$rhs, "@g", pt$group), pt$plabel)
uni <- score$uni
uni$lhs_param <- unname(pmap[uni$lhs])
uni$rhs_param <- unname(pmap[uni$rhs])

inv <- list(
  versions = versions,
  model = hs_model,
  group = "school",
  group_labels = lavInspect(inv_ml$configural, "group.label"),
  group_nobs = unlist(lavInspect(inv_ml$configural, "nobs")),
  calls = list(
    configural = 'cfa(model, data = HS, group = "school", estimator = EST)',
    metric = 'cfa(model, data = HS, group = "school", estimator = EST, group.equal = "loadings")',
    scalar = 'cfa(model, data = HS, group = "school", estimator = EST, group.equal = c("loadings", "intercepts"))',
    strict = 'cfa(model, data = HS, group = "school", estimator = EST, group.equal = c("loadings", "intercepts", "residuals"))',
    lrt = "lavTestLRT(configural, metric, scalar, strict)  # ML: plain chi-square difference; MLR: method = 'satorra.bentler.2001' (default)",
    score = "lavTestScore(scalar)  # defaults: release = NULL (all equality constraints), univariate = TRUE, cumulative = FALSE, epc = FALSE"
  ),
  ML = list(
    fit_measures = lapply(inv_ml, function(f) vec(fitMeasures(f, inv_fm))),
    lrt = lrt_rows(lrt_ml),
    lrt_heading = paste(attr(lrt_ml, "heading"), collapse = "")
  ),
  MLR = list(
    fit_measures = lapply(inv_mlr, function(f) vec(fitMeasures(f, inv_fm_mlr))),
    lrt = lrt_rows(lrt_mlr),
    lrt_heading = paste(attr(lrt_mlr, "heading"), collapse = "")
  ),
  scalar_latent_means = rows(latent_means, pe_cols),
  scalar_latent_means_note = "group 1 (first label) means fixed at 0; group 2 free",
  scalar_parameter_estimates = rows(pe_sc, pe_cols),
  score_test = list(
    total = rows(score$test),
    uni = rows(uni)
  ),
  scalar_partable = rows(pt, c("id", "lhs", "op", "rhs", "block", "group", "free", "ustart", "label",
                               "plabel", "est", "se"))
)
write_json_file(inv, "hs_invariance.json")

# ------------------------------------------------------------------------------------------------- 5. Political Democracy SEM
pd_model <- '
  ind60 =~ x1 + x2 + x3
  dem60 =~ y1 + y2 + y3 + y4
  dem65 =~ y5 + y6 + y7 + y8
  dem60 ~ ind60
  dem65 ~ ind60 + dem60
  y1 ~~ y5
  y2 ~~ y4 + y6
  y3 ~~ y7
  y4 ~~ y8
  y6 ~~ y8
'
pd_model_lab <- '
  ind60 =~ x1 + x2 + x3
  dem60 =~ y1 + y2 + y3 + y4
  dem65 =~ y5 + y6 + y7 + y8
  dem60 ~ a*ind60
  dem65 ~ b*ind60 + c*dem60
  y1 ~~ y5
  y2 ~~ y4 + y6
  y3 ~~ y7
  y4 ~~ y8
  y6 ~~ y8
  ind := a*c
  total := b + a*c
'
fit_pd <- sem(pd_model, data = PD, estimator = "ML")
fit_pd_lab <- sem(pd_model_lab, data = PD, estimator = "ML")
poldem <- list(
  versions = versions,
  call = 'sem(model, data = PoliticalDemocracy, estimator = "ML")',
  model = pd_model,
  fit_measures = vec(fitMeasures(fit_pd)),
  parameter_estimates = rows(parameterEstimates(fit_pd, standardized = TRUE), pe_cols),
  r2 = vec(lavInspect(fit_pd, "r2")),
  fitted_cov = mat(fitted(fit_pd)$cov),
  labelled = list(
    call = 'sem(model_labelled, data = PoliticalDemocracy, estimator = "ML")',
    model = pd_model_lab,
    parameter_estimates = rows(parameterEstimates(fit_pd_lab, standardized = TRUE), pe_cols),
    note = "':=' rows: se by delta method, z / pvalue / ci from normal theory (ci: est +/- 1.96 se)"
  )
)
write_json_file(poldem, "poldem_sem.json")

# ------------------------------------------------------------------------------------------------- 6. psych on bfi
items <- c(paste0("A", 1:5), paste0("C", 1:5), paste0("E", 1:5), paste0("N", 1:5), paste0("O", 1:5))
bfi25 <- bfi[, items]
A <- bfi25[, paste0("A", 1:5)]
C <- bfi25[, paste0("C", 1:5)]

alpha_out <- function(x) {
  a <- suppressWarnings(psych::alpha(x, check.keys = TRUE))
  keys <- unlist(a$keys)
  fe <- a$feldt
  tot <- a$total
  aci <- psych::alpha.ci(tot$raw_alpha, n.obs = nrow(x), n.var = ncol(x), p.val = 0.05)
  ad <- cbind(item = rownames(a$alpha.drop), a$alpha.drop)
  is <- cbind(item = rownames(a$item.stats), a$item.stats)
  list(
    call = "psych::alpha(x, check.keys = TRUE)",
    total = vec(unlist(tot)),
    feldt = list(lower = num(unlist(fe$lower.ci)), alpha = num(unlist(fe$alpha)),
                 upper = num(unlist(fe$upper.ci)), r.bar = num(unlist(fe$r.bar)),
                 note = "alpha()$feldt: 95% Feldt CI, uses n.obs = nrow(x) (cases incl. incomplete)"),
    alpha_ci = list(call = "psych::alpha.ci(raw_alpha, n.obs = nrow(x), n.var = ncol(x), p.val = 0.05)",
                    lower = num(aci$lower.ci), upper = num(aci$upper.ci)),
    keys = keys,
    reversed = sub("^-", "", keys[grepl("^-", keys)]),
    alpha_drop = rows(ad),
    item_stats = rows(is),
    n_obs = nrow(x)
  )
}

omega_out <- function(x, nf) {
  o <- suppressWarnings(suppressMessages(psych::omega(x, nfactors = nf, plot = FALSE)))
  list(call = sprintf("psych::omega(C, nfactors = %d, plot = FALSE)  # fm = 'minres', rotate = 'oblimin', flip = TRUE, cor(use = 'pairwise')", nf),
       omega_tot = num(o$omega.tot), omega_h = num(o$omega_h), alpha = num(o$alpha),
       G6 = num(o$G6), omega_lim = num(o$omega.lim), key = num(o$key),
       g_loadings = num(o$schmid$sl[, "g"]),
       note = if (nf == 1) "nfactors = 1: omega_h not meaningful (psych reports it but equals omega_t up to rounding)" else
         "nfactors = 3 (psych default) on 5 items: Schmid-Leiman of a 3-factor oblimin minres solution")
}

R_pair <- cor(bfi25, use = "pairwise")
n_all <- nrow(bfi25); n_cc <- sum(complete.cases(bfi25))
kmo <- psych::KMO(bfi25)
bart_all <- psych::cortest.bartlett(R_pair, n = n_all)
bart_cc <- psych::cortest.bartlett(R_pair, n = n_cc)
op <- options(mc.cores = 1)  # fa.parallel uses parallel::mclapply; forked workers ignore set.seed()
set.seed(1)
pa <- suppressWarnings(suppressMessages(
  psych::fa.parallel(bfi25, fa = "fa", fm = "minres", n.iter = 20, plot = FALSE)))
options(op)
fa_obl <- suppressWarnings(psych::fa(bfi25, nfactors = 5, fm = "minres", rotate = "oblimin"))
fa_ml <- suppressWarnings(psych::fa(bfi25, nfactors = 5, fm = "ml", rotate = "varimax"))
fa_pa <- suppressWarnings(psych::fa(bfi25, nfactors = 5, fm = "pa", rotate = "promax"))
fa_pack <- function(f, call) {
  L <- unclass(f$loadings)
  list(call = call, n_obs = f$n.obs, loadings = mat(L),
       h2 = vec(f$communality), u2 = vec(f$uniquenesses),
       Phi = if (is.null(f$Phi)) NULL else mat(f$Phi),
       ss_loadings = vec(colSums(L^2)),
       rotation = f$rotation, fm = f$fm,
       objective = num(f$objective), STATISTIC = num(f$STATISTIC), dof = num(f$dof),
       RMSEA = vec(f$RMSEA), TLI = num(f$TLI), BIC = num(f$BIC))
}
desc <- psych::describe(bfi25)
desc_df <- cbind(item = rownames(desc), as.data.frame(unclass(desc)))

bfi_out <- list(
  versions = versions,
  items = items,
  n_rows = n_all,
  n_complete = n_cc,
  correlation_note = "psych default: Pearson cor(x, use = 'pairwise') on raw data; n.obs = nrow(x) = 2800",
  alpha_A = alpha_out(A),
  alpha_C = alpha_out(C),
  omega_C = list(nfactors_1 = omega_out(C, 1), nfactors_3 = omega_out(C, 3)),
  kmo = list(call = "psych::KMO(bfi25)  # cor(x, use = 'pairwise') internally",
             MSA = num(kmo$MSA), MSAi = vec(kmo$MSAi)),
  bartlett = list(
    n_nrow = list(call = "psych::cortest.bartlett(cor(bfi25, use = 'pairwise'), n = 2800)",
                  n = n_all, chisq = num(bart_all$chisq), p.value = num(bart_all$p.value), df = num(bart_all$df)),
    n_complete = list(call = sprintf("psych::cortest.bartlett(cor(bfi25, use = 'pairwise'), n = %d)  # complete cases", n_cc),
                      n = n_cc, chisq = num(bart_cc$chisq), p.value = num(bart_cc$p.value), df = num(bart_cc$df)),
    note = "psych::cortest.bartlett(raw data) itself uses R = cor(x, use = 'pairwise') and n = nrow(x) = 2800, so 'n_nrow' is the primary reference (a correlation matrix passed without n falls back to n = 100 with a warning)"
  ),
  fa_parallel = list(
    call = "options(mc.cores = 1); set.seed(1); psych::fa.parallel(bfi25, fa = 'fa', fm = 'minres', n.iter = 20, plot = FALSE)  # sim = TRUE, quant = 0.95, use = 'pairwise', SMC = FALSE",
    nfact = num(pa$nfact), fa_values = num(pa$fa.values), fa_sim = num(pa$fa.sim), fa_simr = num(pa$fa.simr),
    note = "fa_values (observed, reduced-matrix eigenvalues from a 1-factor minres fit) are deterministic; fa_sim / fa_simr are random (seed 1)"
  ),
  fa_minres_oblimin = fa_pack(fa_obl, "psych::fa(bfi25, nfactors = 5, fm = 'minres', rotate = 'oblimin')"),
  fa_ml_varimax = fa_pack(fa_ml, "psych::fa(bfi25, nfactors = 5, fm = 'ml', rotate = 'varimax')"),
  fa_pa_promax = fa_pack(fa_pa, "psych::fa(bfi25, nfactors = 5, fm = 'pa', rotate = 'promax')  # psych promax, m = 4"),
  fa_note = "factor columns are in psych's order (sorted by SS loadings) and sign; compare up to column permutation / sign",
  describe = rows(desc_df, c("item", "n", "mean", "sd", "median", "trimmed", "mad", "min", "max", "range", "skew", "kurtosis", "se")),
  describe_note = "psych::describe(bfi25): skew / kurtosis type = 3 (b1 = m3/s^3, b2 - 3 with s = sample sd, n-1 divisor); na.rm = TRUE per item"
)
write_json_file(bfi_out, "bfi_psych.json")

# ------------------------------------------------------------------------------------------------- 7. 30-item CFA (data from benchmark)
cfa30_csv <- file.path(out_dir, "cfa30_n1000.csv")
if (file.exists(cfa30_csv)) {
  d30 <- read.csv(cfa30_csv)
  m30 <- paste(sapply(1:6, function(f) sprintf("f%d =~ %s", f, paste0("y", (f - 1) * 5 + 1:5, collapse = " + "))),
               collapse = "\n")
  fit30 <- cfa(m30, data = d30, estimator = "ML")
  write_json_file(list(
    versions = versions,
    call = "cfa(model, data = read.csv('cfa30_n1000.csv'), estimator = 'ML')",
    model = m30,
    fit_measures = vec(fitMeasures(fit30)),
    parameter_estimates = rows(parameterEstimates(fit30, standardized = TRUE), pe_cols)
  ), "cfa30_n1000.json")
} else {
  message("cfa30_n1000.csv not found: run Rscript benchmarks/lavaan_timings.R first to write it")
}

writeLines(capture.output(sessionInfo()), file.path(out_dir, "sessionInfo.txt"))
cat("done\n")
