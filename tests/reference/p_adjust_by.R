# The Benjamini-Yekutieli adjustment of tests/test_multiple_testing.py, by R (stats::p.adjust).
# Run: Rscript tests/reference/p_adjust_by.R
p <- c(0.01, 0.04, 0.03, 0.20)
print(p.adjust(p, "BY"), digits = 15)
q <- c(0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216, 0.222, 0.251, 0.269, 0.275, 0.34)
print(p.adjust(q, "BY"), digits = 15)
print(p.adjust(q, "BH"), digits = 15)
print(p.adjust(q, "holm"), digits = 15)
