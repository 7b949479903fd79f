# Reference numbers for tests/test_stratified.py, tests/test_association.py and tests/test_paired.py.
# Run: Rscript tests/reference/epir_reference.R   (R 4.2 and epiR 2.0.57 from Debian bookworm:
# apt-get install r-base-core r-cran-epir). The outputs are hard-coded in the tests (CI has no R).
suppressPackageStartupMessages(library(epiR))
options(digits = 10)

# A stratified 2x2 table in epiR's layout: rows exposed (Z=1) / unexposed (Z=0),
# columns outcome + (Y=1) / - (Y=0), one slice per stratum; cells listed per stratum as a, b, c, d.
strata <- function(cells) {
  k <- length(cells) / 4
  arr <- array(0, dim = c(2, 2, k))
  for (i in seq_len(k)) arr[, , i] <- matrix(cells[(4 * i - 3):(4 * i)], 2, 2, byrow = TRUE)
  arr
}

report <- function(name, cells) {
  dat <- strata(cells)
  res <- epi.2by2(dat = as.table(dat), method = "cohort.count", conf.level = 0.95, units = 1)
  cat(name, "\n")
  cat("  MH risk difference, Sato:            ", unlist(res$massoc.detail$ARisk.mh.sato), "\n")
  cat("  MH risk difference, Greenland-Robins:", unlist(res$massoc.detail$ARisk.mh.green), "\n")
  cmh <- mantelhaen.test(dat)  # correct = TRUE by default
  cat("  mantelhaen.test (correct = TRUE): X2 =", cmh$statistic, " p =", cmh$p.value, "\n")
  cmh0 <- mantelhaen.test(dat, correct = FALSE)
  cat("  mantelhaen.test (correct = FALSE): X2 =", cmh0$statistic, " p =", cmh0$p.value, "\n")
}

# Kidney stones (Charig et al. 1986): open surgery vs PCNL, small then large stones.
report("kidney stones", c(81, 6, 234, 36, 192, 71, 55, 25))
# UC Berkeley 1973, departments A-F: men (Z=1) vs women, admitted (Y=1).
report("berkeley", c(512, 313, 89, 19, 353, 207, 17, 8, 120, 205, 202, 391,
                     138, 279, 131, 244, 53, 138, 94, 299, 22, 351, 24, 317))

small <- matrix(c(81, 6, 234, 36), 2, 2, byrow = TRUE)
yates <- chisq.test(small)  # correct = TRUE by default
cat("chisq.test(small stones) X2 =", yates$statistic, " p =", yates$p.value, "\n")
pearson <- chisq.test(small, correct = FALSE)
cat("chisq.test(small stones, correct = FALSE) X2 =", pearson$statistic, " p =", pearson$p.value, "\n")

agresti <- matrix(c(794, 86, 150, 570), 2, 2, byrow = TRUE)  # Agresti (2013) Table 11.1
mc <- mcnemar.test(agresti)  # correct = TRUE by default
cat("mcnemar.test(Agresti 11.1) X2 =", mc$statistic, " p =", mc$p.value, "\n")
