# lavaan timing for benchmarks/mediation_benchmark.py: 5,000-draw bootstrap of a simple composite mediation
# and of a latent mediation (3 factors x 3 indicators), n = 300, same data as tests/reference/models.
# Usage: Rscript benchmarks/mediation_benchmark.R [R]    (prints JSON with elapsed seconds)
suppressMessages({library(lavaan); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
R <- if (length(args)) as.integer(args[1]) else 5000L
ref <- file.path("tests", "reference", "models")
d <- read.csv(file.path(ref, "mediation_data.csv"))
L <- read.csv(file.path(ref, "latent_data.csv"))
simple <- 'm1 ~ a*x
 y ~ b*m1 + c*x
 ind := a*b
 total := c + a*b'
latent <- 'X =~ x1 + x2 + x3
 M =~ m1 + m2 + m3
 Y =~ y1 + y2 + y3
 M ~ a*X
 Y ~ b*M + c*X
 ind := a*b
 total := c + a*b'
set.seed(1)
t1 <- system.time(f1 <- sem(simple, data = d, se = "bootstrap", bootstrap = R))["elapsed"]
set.seed(1)
t2 <- system.time(f2 <- sem(latent, data = L, se = "bootstrap", bootstrap = R))["elapsed"]
cat(toJSON(list(R = R, composite = unname(t1), latent = unname(t2),
                composite_ok = nrow(lavInspect(f1, "boot")), latent_ok = nrow(lavInspect(f2, "boot"))),
           auto_unbox = TRUE, digits = NA), "\n")
