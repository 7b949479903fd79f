# Reference numbers for tests/test_observational.py (run from the repository root:
#   Rscript tests/reference/observational.R
# R 4.x with Debian's r-cran-matching, r-cran-aer, r-cran-sandwich). CI has no R: the tests hard-code the output.
suppressMessages({library(Matching); library(AER); library(sandwich)})

# Abadie-Imbens matching on the NSW experiment (robust AI variance with Var.calc = 1)
nsw <- read.csv("datasets/lalonde_nsw.csv")
X <- as.matrix(nsw[, c("age", "educ", "black", "married", "re74", "re75")])
for (est in c("ATT", "ATE")) for (ba in c(FALSE, TRUE)) for (w in 1:2) for (M in c(1, 4)) {
  m <- Match(Y = nsw$re78, Tr = nsw$treat, X = X, estimand = est, M = M, BiasAdjust = ba, Weight = w, Var.calc = 1)
  cat(sprintf("%s BA=%d W=%d M=%d est=%.6f se=%.6f pairs=%d\n", est, ba, w, M, m$est, m$se, length(m$index.treated)))
}

# The same with R's default variance, Var.calc = 0 (one pooled conditional variance): match(standard_error=
# "homoskedastic")
for (est in c("ATT", "ATE")) for (ba in c(FALSE, TRUE)) for (w in 1:2) for (M in c(1, 4)) {
  m <- Match(Y = nsw$re78, Tr = nsw$treat, X = X, estimand = est, M = M, BiasAdjust = ba, Weight = w)
  cat(sprintf("Var.calc=0 %s BA=%d W=%d M=%d est=%.6f se=%.6f\n", est, ba, w, M, m$est, m$se))
}

# 2SLS on Card (1995): lwage on educ instrumented by nearc4, with covariates
card <- read.csv("datasets/card.csv")
m <- ivreg(lwage ~ educ + exper + black + south + smsa | nearc4 + exper + black + south + smsa, data = card)
cat(sprintf("ivreg coef=%.10f classical=%.10f\n", coef(m)["educ"], sqrt(vcov(m)["educ", "educ"])))
for (t in c("HC0", "HC1", "HC2", "HC3")) cat(sprintf("%s=%.10f\n", t, sqrt(vcovHC(m, type = t)["educ", "educ"])))
print(summary(m, diagnostics = TRUE)$diagnostics)
