# R's lm aliases a covariate that is a large offset plus N(0, 1) noise from about 1e7 (QR tolerance 1e-7);
# tests/test_scaled_fit.py refuses the same designs (causalattn._scaled_fit.aliased). Printed with R 4.x:
#   1e+06 45548.63 -0.0455485
#   1e+07 0.1173265 NA
#   1e+09 0.1173265 NA
set.seed(1); n <- 50; e <- rnorm(n); y <- rnorm(n)
for (s in c(1e6, 1e7, 1e9)) { x <- s + e; cat(s, coef(lm(y ~ x)), "\n") }
