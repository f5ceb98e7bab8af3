# R's p.adjust reference for Holm and Benjamini-Hochberg (ties, p = 1, tiny p included).
# Run from the repository root: Rscript tests/reference/models/p_adjust_reference.R
library(jsonlite)
p <- c(0.0001, 0.004, 0.019, 0.019, 0.021, 0.035, 0.048, 0.05, 0.2, 0.5, 0.74, 1, 3e-8, 0.0125)
out <- list(p = p, holm = p.adjust(p, "holm"), BH = p.adjust(p, "BH"), R = R.version.string)
write(toJSON(out, digits = NA, pretty = TRUE), "tests/reference/models/p_adjust.json")
