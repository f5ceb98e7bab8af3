# Reference values for vccscale's latent interaction (double-mean-centred matched-pair product indicators):
# semTools::indProd(match = TRUE, meanC = TRUE, doubleMC = TRUE) and lavaan::sem() with the product factor.
# Simple slopes: semTools::probe2WayMC at Z = -1 SD, 0, +1 SD of the latent moderator.
# Run: Rscript tests/reference/models/interaction_reference.R  (lavaan 0.6-14, semTools 0.5-6)
library(lavaan); library(semTools); library(jsonlite)
d <- read.csv("tests/reference/models/interaction_data.csv")
dp <- indProd(d, var1 = c("x1","x2","x3","x4"), var2 = c("z1","z2","z3","z4"), match = TRUE, meanC = TRUE,
              residualC = FALSE, doubleMC = TRUE, namesProd = c("p1","p2","p3","p4"))
m <- "X =~ x1 + x2 + x3 + x4
Z =~ z1 + z2 + z3 + z4
Y =~ y1 + y2 + y3 + y4
XZ =~ p1 + p2 + p3 + p4
Y ~ b1*X + b2*Z + b3*XZ"
fit <- sem(m, dp)
pe <- parameterEstimates(fit, standardized = TRUE)
reg <- pe[pe$op == "~", c("lhs","op","rhs","est","se","pvalue","std.all")]
# simple slopes of X at Z = -1 SD, 0, +1 SD of the latent moderator (semTools::probe2WayMC)
sdz <- sqrt(lavInspect(fit, "cov.lv")["Z", "Z"])
probe <- probe2WayMC(fit, nameX = c("X", "Z", "XZ"), nameY = "Y", modVar = "Z", valProbe = c(-sdz, 0, sdz))
ss <- probe$SimpleSlope
out <- list(products = as.list(dp[1:5, c("p1","p2","p3","p4")]),
            product_means = colMeans(dp[, c("p1","p2","p3","p4")]),
            regressions = reg,
            simple_slopes = list(z = ss[[1]], est = ss$est, se = ss$se, z_stat = ss$z, pvalue = ss$pvalue,
                                 sd_z = sdz),
            fit = as.list(fitMeasures(fit, c("chisq","df","cfi","rmsea","srmr"))))
write_json(out, "tests/reference/models/interaction_reference.json", digits = NA, pretty = TRUE)
