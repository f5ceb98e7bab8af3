# lavaan 0.6-14 reference for the generated family-A mediation model on the simulated data.
# Run from the repository root after make_fixtures.py: Rscript tests/reference/models/lavaan_reference.R
library(lavaan); library(jsonlite)
d <- "tests/reference/models"
dat <- read.csv(file.path(d, "sim_family_a.csv"))
model <- paste0(paste(readLines(file.path(d, "sim_family_a_model.lav")), collapse = "\n"), "\n")
fit <- sem(model, data = dat)
pe <- parameterEstimates(fit)
pe <- pe[, c("lhs", "op", "rhs", "est", "se")]
fm <- fitMeasures(fit, c("chisq", "df", "aic", "bic"))
out <- list(lavaan = as.character(packageVersion("lavaan")), model = model,
            estimates = pe, fit = as.list(fm))
write(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(d, "sim_family_a_lavaan.json"))
