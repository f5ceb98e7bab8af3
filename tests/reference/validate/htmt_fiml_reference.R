# HTMT under full-information ML: semTools::htmt(model, data, missing = "ml"), i.e. the correlations of
# lavaan::lavCor(data, missing = "ml") (the saturated model's ML estimates under MAR; cases with every item
# missing are left out). Reads the CSVs of this folder; writes htmt_fiml_reference.json (conventions of
# make_reference.R: 15 significant digits, NA -> null, matrices {"rownames", "colnames", "values"} row-major).
#
# Run from the repository root:
#     Rscript tests/reference/validate/htmt_fiml_reference.R
# Used by tests/test_validate_validity.py; R is not needed to run the tests.
#
# lavaan's EM for the saturated moments stops at em.h1.tol = 1e-5 (its default), some 1e-5 from the ML estimates;
# the *_tight entries rerun lavCor with em.h1.tol = 1e-12 and pass its matrix to htmt(sample.cov =), to check the
# estimates themselves.
#
# Three data sets:
#   hs_missing  - hs_missing.csv (HolzingerSwineford1939 with values deleted), the three HS factors
#   bfi         - bfi.csv, its own missing answers, four factors (A2-A5, C1-C3, E3-E5, N1-N3)
#   bfi_sparse  - the first 150 rows of those 13 bfi items with every answer deleted where
#                 (37 * row + 11 * column) %% 23 < 5 (row, column 1-based; 22% of the answers), so that 11 rows
#                 are complete: fewer than the 13 items, and semTools' listwise HTMT stops (lavCor: "sample
#                 covariance matrix is not positive-definite"; the message is stored instead of a matrix)
suppressPackageStartupMessages({library(jsonlite); library(lavaan); library(semTools)})
out_dir <- "tests/reference/validate"
if (!dir.exists(out_dir)) stop("run from the repository root")
num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }
mat <- function(m) {
  m <- as.matrix(unclass(m)); list(rownames = rownames(m), colnames = colnames(m),
                                   values = matrix(num(m), nrow(m), ncol(m)))
}
hs <- read.csv(file.path(out_dir, "hs_missing.csv"))
bfi <- read.csv(file.path(out_dir, "bfi.csv"))
m_hs <- " visual =~ x1 + x2 + x3 \n textual =~ x4 + x5 + x6 \n speed =~ x7 + x8 + x9 "
m_bfi <- " A =~ A2 + A3 + A4 + A5 \n C =~ C1 + C2 + C3 \n E =~ E3 + E4 + E5 \n N =~ N1 + N2 + N3 "
bitems <- c("A2", "A3", "A4", "A5", "C1", "C2", "C3", "E3", "E4", "E5", "N1", "N2", "N3")
sparse <- bfi[1:150, bitems]
for (j in seq_along(bitems)) sparse[((37 * seq_len(150) + 11 * j) %% 23) < 5, j] <- NA

one <- function(model, data) {
  vars <- unique(unlist(lapply(strsplit(strsplit(model, "\n")[[1]], "=~"), function(p)
    if (length(p) == 2) trimws(strsplit(p[2], "\\+")[[1]]))))
  d <- data[, vars]
  tight <- lavCor(d, missing = "ml", em.h1.tol = 1e-12, em.h1.iter.max = 100000L)
  list(model = model, n_rows = nrow(d), n_complete = sum(complete.cases(d)),
       n_used_ml = sum(rowSums(!is.na(d)) > 0),
       cor_ml = mat(lavCor(d, missing = "ml")),
       cor_ml_tight = mat(tight),
       htmt2_ml_tight = mat(htmt(model, sample.cov = tight)),
       htmt_ml_tight = mat(htmt(model, sample.cov = tight, htmt2 = FALSE)),
       htmt2_ml = mat(htmt(model, data, missing = "ml")),
       htmt_ml = mat(htmt(model, data, missing = "ml", htmt2 = FALSE)),
       htmt2_listwise = tryCatch(mat(htmt(model, data)), error = function(e) conditionMessage(e)))
}
out <- list(versions = list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                            semTools = as.character(packageVersion("semTools"))),
            hs_missing = one(m_hs, hs), bfi = one(m_bfi, bfi), bfi_sparse = one(m_bfi, sparse))
txt <- toJSON(out, digits = NA, na = "null", null = "null", auto_unbox = TRUE, dataframe = "rows",
              matrix = "rowmajor", pretty = FALSE)
writeLines(txt, file.path(out_dir, "htmt_fiml_reference.json"), useBytes = TRUE)
cat("wrote htmt_fiml_reference.json\n")
