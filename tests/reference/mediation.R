# Reference numbers for tests/test_mediation.py (run from the repository root:
#   Rscript tests/reference/mediation.R
# R 4.x with Debian's r-cran-numderiv; R's `mediation` package is not in Debian, so the natural effects are
# computed here from first principles: lm/glm fits, the mediation formula by adaptive quadrature
# (integrate) for every unit, and delta-method standard errors from numDeriv's Richardson Jacobian.
# CI has no R: the tests hard-code the output.
suppressMessages(library(numDeriv))

framing <- read.csv("datasets/framing.csv")
framing$educ <- factor(framing$educ, levels = c("less than high school", "high school", "some college",
                                                "bachelor's degree or higher"))
framing$gender <- factor(framing$gender, levels = c("male", "female"))
n <- nrow(framing)

med <- lm(emo ~ treat + age + educ + gender + income, data = framing)
Xm <- model.matrix(med)
pm <- ncol(Xm)
cat(sprintf("mediator coef treat=%.10f sigma2=%.10f df=%d\n", coef(med)["treat"], summary(med)$sigma^2,
            med$df.residual))

effects <- function(theta, link, Xm, Xy, interaction) {
  am <- theta[1:pm]; s2 <- theta[pm + 1]; by <- theta[(pm + 2):length(theta)]
  ginv <- switch(link, identity = identity, probit = pnorm, logit = plogis)
  psi <- matrix(NA, 2, 2)
  for (z in 0:1) for (zs in 0:1) {
    Xmz <- Xm; Xmz[, "treat"] <- zs
    mu <- drop(Xmz %*% am)
    vals <- sapply(seq_len(n), function(i) {
      xi <- Xy[i, ]; xi["treat"] <- z
      if (interaction) xi["treat:emo"] <- 0
      xi["emo"] <- 0
      a <- sum(xi * by); b <- by["emo"] + if (interaction) z * by["treat:emo"] else 0
      if (link == "identity") return(a + b * mu[i])
      integrate(function(m) ginv(a + b * m) * dnorm(m, mu[i], sqrt(s2)), -Inf, Inf,
                rel.tol = 1e-12, abs.tol = 0)$value
    })
    psi[z + 1, zs + 1] <- mean(vals)
  }
  nde0 <- psi[2, 1] - psi[1, 1]; nde1 <- psi[2, 2] - psi[1, 2]
  nie1 <- psi[2, 2] - psi[2, 1]; nie0 <- psi[1, 2] - psi[1, 1]
  total <- psi[2, 2] - psi[1, 1]
  c(total = total, nde0 = nde0, nie1 = nie1, nde1 = nde1, nie0 = nie0, pm = (nie0 + nie1) / 2 / total)
}

report <- function(label, out, link, interaction) {
  Xy <- model.matrix(out)
  theta <- c(coef(med), summary(med)$sigma^2, coef(out))
  V <- matrix(0, length(theta), length(theta))
  V[1:pm, 1:pm] <- vcov(med)
  V[pm + 1, pm + 1] <- 2 * summary(med)$sigma^4 / med$df.residual
  V[(pm + 2):length(theta), (pm + 2):length(theta)] <- vcov(out)
  f <- function(t) effects(t, link, Xm, Xy, interaction)
  est <- f(theta)
  J <- jacobian(f, theta)
  se <- sqrt(diag(J %*% V %*% t(J)))
  cat(label, "\n")
  for (k in seq_along(est)) cat(sprintf("  %s est=%.10f se=%.10f\n", names(est)[k], est[k], se[k]))
}

report("probit", glm(cong_mesg ~ treat + emo + age + educ + gender + income, family = binomial("probit"),
                     data = framing, control = glm.control(epsilon = 1e-14, maxit = 100)), "probit", FALSE)
report("logit", glm(cong_mesg ~ treat + emo + age + educ + gender + income, family = binomial("logit"),
                    data = framing, control = glm.control(epsilon = 1e-14, maxit = 100)), "logit", FALSE)
report("logit interaction", glm(cong_mesg ~ treat + emo + treat:emo + age + educ + gender + income,
                                family = binomial("logit"), data = framing,
                                control = glm.control(epsilon = 1e-14, maxit = 100)), "logit", TRUE)

# Linear outcome (immigr, a 1-4 attitude scale): Baron-Kenny a, b, c, c' and Sobel's standard error by hand
out <- lm(immigr ~ treat + emo + age + educ + gender + income, data = framing)
tot <- lm(immigr ~ treat + age + educ + gender + income, data = framing)
a <- coef(med)["treat"]; b <- coef(out)["emo"]
sa <- sqrt(vcov(med)["treat", "treat"]); sb <- sqrt(vcov(out)["emo", "emo"])
cat(sprintf("linear a=%.10f b=%.10f c=%.10f cprime=%.10f ab=%.10f sobel=%.10f\n", a, b, coef(tot)["treat"],
            coef(out)["treat"], a * b, sqrt(a^2 * sb^2 + b^2 * sa^2)))
report("linear interaction", lm(immigr ~ treat + emo + treat:emo + age + educ + gender + income, data = framing),
       "identity", TRUE)
