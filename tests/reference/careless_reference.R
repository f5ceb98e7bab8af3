# Reference values for vccscale.clean.indices, computed in base R.
#
# The R package 'careless' (Yentes & Wilhelm) is not installable here, so each function below transcribes
# the logic of the careless (>= 1.2.0) / psych function named in its comment, in base R only. Run from the
# repository root:
#     Rscript tests/reference/careless_reference.R
# It (re)writes tests/reference/screen_data.csv (a fixed simulated data set, generated here with set.seed)
# and tests/reference/careless_reference.csv (one row per respondent, 15 significant digits, NA = missing).
# The Python tests only read the two CSV files; R is not needed to run them. Last run with R 4.2.2.

out_dir <- "tests/reference"
if (!dir.exists(out_dir)) stop("run from the repository root")

# ---------------------------------------------------------------------------------------------------------
# data: 60 respondents x 12 items on 1..7, 3 factors of 4 items (item 4 of each factor reverse-keyed)
set.seed(20240611, kind = "Mersenne-Twister", normal.kind = "Inversion", sample.kind = "Rejection")
n <- 60; p <- 12; k <- 3; len <- 4
phi <- matrix(0.3, k, k); diag(phi) <- 1
eta <- matrix(rnorm(n * k), n, k) %*% chol(phi)
lambda <- rep(c(0.9, 0.9, 0.9, -0.9), k)
intercept <- c(0.9, 0.3, 0.6, -0.5, 0.4, -0.2, 0.8, -0.7, 0.2, 0.7, -0.1, -0.6)
fac <- rep(1:k, each = len)
latent <- sweep(eta[, fac] * rep(lambda, each = n), 2, intercept, "+") + matrix(rnorm(n * p, sd = 0.45), n, p)
cuts <- c(-Inf, -1.8, -1.1, -0.4, 0.4, 1.1, 1.8, Inf)
x <- matrix(as.integer(cut(latent, cuts)), n, p)
x <- matrix(as.numeric(x), n, p)
# scattered missing responses (about 3 %) among the attentive rows 1..50
na_cells <- sample(50 * p, 18)
x[1:50, ][na_cells] <- NA
x[51, ] <- 4                                  # straight-liner
x[52, ] <- 6; x[52, 5] <- NA                  # straight-liner with one missing response
x[53:57, ] <- sample(1:7, 5 * p, replace = TRUE)  # uniform random responders
x[58, c(2, 4, 6, 9, 10)] <- NA                # factor 1 has no even half: that even-odd pair is dropped
x[59, 9:12] <- NA                             # factor 3 unanswered: only 2 even-odd pairs left
x[60, ] <- NA                                 # nothing answered
colnames(x) <- sprintf("i%02d", 1:p)
dat <- as.data.frame(x)
write.csv(dat, file.path(out_dir, "screen_data.csv"), row.names = FALSE, na = "")

factors <- rep(len, k)
blocks <- list(1:4, 5:8, 9:12)

# ---------------------------------------------------------------------------------------------------------
# careless::longstring(x, avg = TRUE): rle() of each row; longest and mean run length (NA breaks runs)
ref_longstring <- function(x) {
  rle_string <- function(r) {
    l <- rle(r)$lengths
    c(longstr = max(l), avgstr = mean(l))
  }
  out <- t(apply(as.matrix(x), 1, rle_string))
  data.frame(longstr = out[, "longstr"], avgstr = out[, "avgstr"])
}

# block-wise longstring: pmax over blocks of careless::longstring(x[, block])
ref_longstring_block <- function(x, blocks) {
  do.call(pmax, lapply(blocks, function(b) ref_longstring(x[, b, drop = FALSE])$longstr))
}

# careless::irv(x, na.rm = TRUE, split = TRUE, num.split): apply(x, 1, sd, na.rm) and the same within the
# chunks split(row, cut(seq_along(row), num.split, labels = FALSE))
ref_irv <- function(x, na.rm = TRUE, num.split = 3) {
  out <- apply(x, 1, stats::sd, na.rm = na.rm)
  chunk <- function(r, nn) split(r, cut(seq_along(r), nn, labels = FALSE))
  split_x <- apply(x, 1, chunk, num.split)
  out_split <- t(sapply(split_x, function(s) unlist(lapply(s, stats::sd, na.rm = na.rm), use.names = FALSE)))
  colnames(out_split) <- paste0("irv", 1:num.split)
  data.frame(irvTotal = out, out_split)
}

# psych::outlier(x, plot = FALSE, na.rm = TRUE): pairwise covariance, available-case centring,
# quadratic form summed over the observed entries only (colSums/rowSums with na.rm = TRUE)
ref_outlier <- function(x) {
  x <- as.matrix(x)
  Sx <- cov(x, use = "pairwise")
  Sx.inv <- solve(Sx)
  x <- scale(x, scale = FALSE)
  D2 <- t(apply(x, 1, function(xx) colSums(xx * Sx.inv, na.rm = TRUE)))
  rowSums(D2 * x, na.rm = TRUE)
}

# careless::mahad(x, plot = FALSE): drop all-NA rows, psych::outlier on the rest, NA for the dropped rows
ref_mahad <- function(x) {
  complete.na <- apply(x, 1, function(y) all(is.na(y)))
  d <- rep(NA_real_, nrow(x))
  d[!complete.na] <- ref_outlier(x[!complete.na, , drop = FALSE])
  d
}

# complete-case variant: stats::mahalanobis on the complete rows with their means and covariance
ref_mahad_complete <- function(x) {
  x <- as.matrix(x)
  cc <- complete.cases(x)
  d <- rep(NA_real_, nrow(x))
  d[cc] <- stats::mahalanobis(x[cc, ], colMeans(x[cc, ]), cov(x[cc, ]))
  d
}

# careless::evenodd(x, factors, diag = TRUE) (>= 1.2.0) on a data.frame: per factor the means of the even-
# and odd-numbered items (na.rm = TRUE); within-person cor over factors (pairwise.complete.obs);
# Spearman-Brown 2r/(1+r), values below -1 set to -1; sign reversed (higher = more careless)
ref_evenodd <- function(x, factors) {
  x <- as.data.frame(x)
  eo_vals <- vector("list", nrow(x))
  for (i in 1:nrow(x)) {
    f <- matrix(rep(NA, 2 * length(factors)), length(factors), ncol = 2)
    start <- 1
    for (j in 1:length(factors)) {
      if (j > 1) start <- start + (factors[j - 1])
      end <- (factors[j] - 1) + start
      s <- x[i, start:end]
      ind <- seq(1:length(colnames(s)))
      e_ind <- which(ind %% 2 == 0)
      o_ind <- which(ind %% 2 == 1)
      f[j, 1] <- mean(t(s[e_ind]), na.rm = TRUE)
      f[j, 2] <- mean(t(s[o_ind]), na.rm = TRUE)
    }
    eo_vals[[i]] <- f
  }
  eo_pairs <- sapply(eo_vals, function(f) sum(!is.na(apply(f, 1, sum))))
  eo_cor <- sapply(eo_vals, function(f) {
    val <- suppressWarnings(stats::cor(f[, 1], f[, 2], use = "pairwise.complete.obs"))
    val <- (2 * val) / (1 + val)
    if (!is.na(val) && val < -1) val <- -1
    val
  })
  data.frame(eo = 0 - eo_cor, n_pairs = eo_pairs)
}

# Curran (2016) person-total correlation (no careless function): cor of the respondent's responses with the
# leave-one-out item means, over the items answered
ref_person_total <- function(x) {
  x <- as.matrix(x)
  sapply(1:nrow(x), function(i) {
    loo <- colMeans(x[-i, , drop = FALSE], na.rm = TRUE)
    ok <- !is.na(x[i, ]) & !is.na(loo)
    if (sum(ok) < 2) return(NA_real_)
    suppressWarnings(stats::cor(x[i, ok], loo[ok]))
  })
}

# careless::psychsyn(x, critval, anto, diag = TRUE, resample_na = FALSE): item pairs from the lower triangle
# of cor(x, use = "pairwise.complete.obs") with r > critval (anto: r < -critval); per respondent cor over
# the pairs (pairwise.complete.obs) when more than 2 complete pairs, else NA
ref_psychsyn <- function(x, critval = 0.60, anto = FALSE) {
  x <- as.matrix(x)
  critval <- abs(critval)
  correlations <- stats::cor(x, use = "pairwise.complete.obs")
  correlations[upper.tri(correlations, diag = TRUE)] <- NA
  correlations <- as.data.frame(as.table(correlations))
  sel <- if (anto) which(correlations$Freq < -critval) else which(correlations$Freq > critval)
  if (length(sel) == 0) stop("No Psychometric Synonyms/Antonyms found.")
  item_pairs <- correlations[sel, c(1, 2)]
  one <- function(r) {
    ok <- which(!(is.na(r[item_pairs[, 1]]) | is.na(r[item_pairs[, 2]])))
    npairs <- length(ok)
    val <- NA_real_
    if (npairs > 2) {
      iv <- cbind(as.numeric(r[as.numeric(item_pairs[, 1])]), as.numeric(r[as.numeric(item_pairs[, 2])]))
      val <- suppressWarnings(stats::cor(iv, use = "pairwise.complete.obs", method = "pearson")[1, 2])
    }
    c(npairs, val)
  }
  res <- t(apply(x, 1, one))
  list(n_pairs = res[, 1], cor = res[, 2], pairs = nrow(item_pairs))
}

# ---------------------------------------------------------------------------------------------------------
ls <- ref_longstring(dat)
iv <- ref_irv(as.matrix(dat), na.rm = TRUE, num.split = 5)
eo <- ref_evenodd(dat, factors)
syn <- ref_psychsyn(dat, 0.60)
ant <- ref_psychsyn(dat, 0.50, anto = TRUE)
cat("psychsyn pairs:", syn$pairs, " psychant pairs:", ant$pairs, "\n")

res <- data.frame(
  row = 1:n,
  longstring = ls$longstr,
  longstring_avg = ls$avgstr,
  longstring_block = ref_longstring_block(as.matrix(dat), blocks),
  irv = iv$irvTotal,
  irv_split5_1 = iv$irv1, irv_split5_2 = iv$irv2, irv_split5_3 = iv$irv3, irv_split5_4 = iv$irv4,
  irv_split5_5 = iv$irv5,
  mahalanobis = ref_mahad(dat),
  mahalanobis_complete = ref_mahad_complete(dat),
  even_odd = eo$eo,
  even_odd_n_pairs = eo$n_pairs,
  person_total = ref_person_total(dat),
  psychsyn = syn$cor,
  psychsyn_n_pairs = syn$n_pairs,
  psychant = ant$cor,
  missing_share = rowMeans(is.na(dat))
)
fmt <- as.data.frame(lapply(res, function(v) ifelse(is.na(v), "NA", sprintf("%.15g", v))))
write.csv(fmt, file.path(out_dir, "careless_reference.csv"), row.names = FALSE, quote = FALSE)
print(head(res, 3))
print(res[50:60, ])
