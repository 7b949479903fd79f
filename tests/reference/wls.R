# Reference numbers for the weighted regressions (weights= of ols, ancova, lin) in tests/test_regression_weights.py:
# R's lm(weights=) with sandwich's vcovHC / vcovCL on the NSW data (datasets/lalonde_nsw.csv), weights 1 + age %% 5.
# Run from the repository root:  Rscript tests/reference/wls.R   (R 4.x, sandwich 3.0)
library(sandwich)
d <- read.csv("datasets/lalonde_nsw.csv")
d$w <- 1 + d$age %% 5
fit <- lm(re78 ~ treat + age + educ, data = d, weights = w)
se <- function(V) sqrt(V["treat", "treat"])
cat(sprintf("ols treat %.10f classical %.10f\n", coef(fit)["treat"], se(vcov(fit))))
for (type in c("HC0", "HC1", "HC2", "HC3")) cat(sprintf("%s %.10f\n", type, se(vcovHC(fit, type = type))))
cat(sprintf("cluster(educ) HC1 %.10f\n", se(vcovCL(fit, cluster = ~educ, type = "HC1"))))
simple <- lm(re78 ~ treat, data = d, weights = w)
cat(sprintf("simple treat %.10f HC2 %.10f\n", coef(simple)["treat"], se(vcovHC(simple, type = "HC2"))))
# Lin: covariates centred at their weighted means, fully interacted
d$agec <- d$age - weighted.mean(d$age, d$w)
d$educc <- d$educ - weighted.mean(d$educ, d$w)
lin <- lm(re78 ~ treat * (agec + educc), data = d, weights = w)
cat(sprintf("lin treat %.10f HC2 %.10f\n", coef(lin)["treat"], se(vcovHC(lin, type = "HC2"))))
