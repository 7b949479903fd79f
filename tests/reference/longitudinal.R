# Reference numbers for tests/test_longitudinal.py: stabilized weights, the MSM with geepack's sandwich, and the
# g-formula by iterated conditional expectations, on datasets/time_varying.csv.
# Run from the repository root:  Rscript tests/reference/longitudinal.R   (R 4.x, geepack 1.3)
library(geepack)
d <- read.csv("datasets/time_varying.csv")
p_obs <- function(fit, a) ifelse(a == 1, fitted(fit), 1 - fitted(fit))
den <- p_obs(glm(a0 ~ l0, binomial, d), d$a0) * p_obs(glm(a1 ~ l0 + l1 + a0, binomial, d), d$a1)
num <- p_obs(glm(a0 ~ 1, binomial, d), d$a0) * p_obs(glm(a1 ~ a0, binomial, d), d$a1)
d$sw <- num / den
cat(sprintf("sw mean %.10f min %.10f max %.10f ess %.6f\n", mean(d$sw), min(d$sw), max(d$sw),
            sum(d$sw)^2 / sum(d$sw^2)))
cat(sprintf("unstabilized mean %.10f\n", mean(1 / den)))
limits <- quantile(d$sw, c(0.01, 0.99))  # type 7, numpy's default
cat(sprintf("truncation limits %.10f %.10f\n", limits[1], limits[2]))
msm <- geeglm(y ~ a0 + a1, id = id, weights = sw, data = d, corstr = "independence")
V <- vcov(msm)
cat(sprintf("msm coef %.10f %.10f %.10f\n", coef(msm)[1], coef(msm)[2], coef(msm)[3]))
cat(sprintf("msm robust se (HC0) %.10f %.10f %.10f\n", sqrt(V[1, 1]), sqrt(V[2, 2]), sqrt(V[3, 3])))
contrast <- c(0, 1, 1)
cat(sprintf("msm contrast %.10f se %.10f\n", sum(contrast * coef(msm)), sqrt(drop(t(contrast) %*% V %*% contrast))))
d$tw <- pmin(pmax(d$sw, limits[1]), limits[2])
msm_t <- geeglm(y ~ a0 + a1, id = id, weights = tw, data = d, corstr = "independence")
cat(sprintf("truncated msm coef %.10f %.10f %.10f\n", coef(msm_t)[1], coef(msm_t)[2], coef(msm_t)[3]))
# g-formula by iterated conditional expectations, linear models
ice <- function(x0, x1) {
  q1 <- lm(y ~ l0 + l1 + a0 + a1, d)
  d$q1 <- predict(q1, transform(d, a0 = x0, a1 = x1))
  q0 <- lm(q1 ~ l0 + a0, d)
  mean(predict(q0, transform(d, a0 = x0)))
}
cat(sprintf("g-formula E[Y^11] %.10f E[Y^00] %.10f E[Y^10] %.10f\n", ice(1, 1), ice(0, 0), ice(1, 0)))
