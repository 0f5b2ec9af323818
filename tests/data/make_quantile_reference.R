# Frozen preprocessCore reference values for desurv.pp.quantile_normalize.
# Run from tests/data:  Rscript make_quantile_reference.R
# Input matrices are written out too, so the test reads exactly what R saw.
suppressPackageStartupMessages(library(preprocessCore))
# genes x samples (as in R); sample columns contain ties of size 2, 3 and 4.
x <- cbind(
  s1 = c(5, 2, 3, 4, 1, 6, 7, 8),
  s2 = c(4, 1, 4, 2, 3, 5, 8, 7),
  s3 = c(3, 3, 3, 5, 1, 6, 6, 9),
  s4 = c(2, 2, 2, 2, 7, 1, 8, 3),
  s5 = c(0, 0, 10, 4, 4, 9, 1.5, 2)
)
rownames(x) <- paste0("g", seq_len(nrow(x)))
qn <- normalize.quantiles(x, keep.names = TRUE)
target <- normalize.quantiles.determine.target(x)
# new samples, same number of genes: normalised to the training target
y <- cbind(n1 = c(1, 8, 2, 7, 3, 6, 4, 5), n2 = c(2, 2, 9, 0, 0, 0, 5, 1))
rownames(y) <- rownames(x)
y_qn <- normalize.quantiles.use.target(y, target)
# new samples with fewer genes (5): quantiles interpolated on the target
z <- cbind(m1 = c(3, 1, 2, 5, 4), m2 = c(1, 1, 7, 7, 2))
rownames(z) <- paste0("g", 1:5)
z_qn <- normalize.quantiles.use.target(z, target)
write.csv(x, "qn_input.csv")
write.csv(qn, "qn_preprocesscore.csv")
write.csv(data.frame(target = target), "qn_target_preprocesscore.csv", row.names = FALSE)
write.csv(y, "qn_new_input.csv")
write.csv(`dimnames<-`(y_qn, dimnames(y)), "qn_new_preprocesscore.csv")
write.csv(z, "qn_short_input.csv")
write.csv(`dimnames<-`(z_qn, dimnames(z)), "qn_short_preprocesscore.csv")
cat("preprocessCore", as.character(packageVersion("preprocessCore")), "\n")
cat(R.version.string, "\n")
