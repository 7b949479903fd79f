# Reference numbers for tests/test_lasso.py: the lasso-adjusted ATE (Bloniarz et al. 2016) and post-double-
# selection (Belloni et al. 2014) at a fixed penalty, with glmnet, lm and sandwich.
# Run:  Rscript tests/reference/lasso.R   (R 4.x, glmnet 4.1, sandwich 3.0)
library(glmnet)
library(sandwich)
n <- 40; p <- 6
i <- 1:n
x <- sapply(1:p, function(j) sin(1.3 * i * j) + cos(0.7 * i) * (j %% 2))
z <- (i - 1) %% 2
y <- 1 + 0.8 * z + 2 * x[, 1] - x[, 2] + 0.5 * sin(3.1 * i)
d <- 0.6 * x[, 1] + 0.3 * x[, 3] + cos(2.3 * i)
xs <- scale(x, center = TRUE, scale = apply(x, 2, function(v) sqrt(mean((v - mean(v))^2))))
lasso <- function(rows, target, lambda) {
  fit <- glmnet(xs[rows, , drop = FALSE], target[rows], lambda = lambda, standardize = FALSE, thresh = 1e-16)
  as.numeric(coef(fit))[-1]
}
lambda <- 0.1
arm <- function(a) {
  rows <- z == a
  beta <- lasso(rows, y, lambda)
  xa <- xs[rows, , drop = FALSE]
  resid <- y[rows] - mean(y[rows]) - sweep(xa, 2, colMeans(xa)) %*% beta
  df <- sum(beta != 0)
  list(mean = mean(y[rows]) - sum((colMeans(xa) - colMeans(xs)) * beta), v = sum(resid^2) / (sum(rows) - df) / sum(rows),
       beta = beta)
}
a1 <- arm(1); a0 <- arm(0)
cat(sprintf("lasso ate %.12f se %.12f\n", a1$mean - a0$mean, sqrt(a1$v + a0$v)))
cat("beta treated", sprintf("%.10f", a1$beta), "\n")
cat("beta control", sprintf("%.10f", a0$beta), "\n")
all_rows <- rep(TRUE, n)
sy <- which(lasso(all_rows, y, 0.2) != 0); sd_ <- which(lasso(all_rows, d, 0.2) != 0)
union <- sort(unique(c(sy, sd_)))
cat("selected outcome", sy, "treatment", sd_, "\n")
fit <- lm(y ~ d + x[, union])
cat(sprintf("double selection %.12f se HC2 %.12f\n", coef(fit)[2], sqrt(vcovHC(fit, type = "HC2")[2, 2])))
