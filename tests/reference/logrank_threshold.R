# Reference numbers for tests/lab/test_threshold.py: the Kaplan-Meier curves, restricted means and log-rank test
# of iterations to an accuracy threshold, censored at the run length tau = 400 (R's survival package).
# Run: Rscript tests/reference/logrank_threshold.R
library(survival)
tau <- 400
control <- c(120, 160, 160, 200, 240, 400, 280, 320)
reached_control <- c(1, 1, 1, 1, 1, 0, 1, 1)
treated <- c(240, 400, 400, 360, 400, 320, 400, 400)
reached_treated <- c(1, 0, 0, 1, 0, 1, 0, 0)
time <- c(control, treated)
event <- c(reached_control, reached_treated)
arm <- factor(rep(c("control", "frozen"), each = 8), levels = c("control", "frozen"))
test <- survdiff(Surv(time, event) ~ arm)
cat(sprintf("chisq %.12f\n", test$chisq))
cat(sprintf("pvalue %.12f\n", pchisq(test$chisq, 1, lower.tail = FALSE)))
cat(sprintf("observed %s expected %s\n", paste(test$obs, collapse = " "), paste(sprintf("%.12f", test$exp), collapse = " ")))
fit <- survfit(Surv(time, event) ~ arm)
print(summary(fit)$table[, c("records", "events", "rmean", "median")], digits = 12)
s <- summary(fit, times = c(0, 120, 160, 200, 240, 280, 320, 360))
print(data.frame(arm = s$strata, time = s$time, surv = round(s$surv, 12)))
print(survival:::survmean(fit, rmean = tau)$matrix[, "rmean"], digits = 12)
