# The dyadic CFA of vccscale.models.dyadic.dyadic_invariance_syntax at a level (configural, metric, scalar,
# strict) for the items in `items` (a global of the sourcing script), sides provider and customer. Sourced by
# dyadic_invariance_reference.R and dyadic_fiml_reference.R.
syntax <- function(level) {
  k <- match(level, c("configural", "metric", "scalar", "strict")) - 1
  sides <- c("provider", "customer")
  lines <- character(0)
  for (s in sides) {
    terms <- sapply(seq_along(items), function(j) {
      if (j == 1) paste0("1*", items[j], "_", s)
      else paste0(if (k >= 1) paste0("l", j, "*") else "", items[j], "_", s)
    })
    lines <- c(lines, paste0("f_", s, " =~ ", paste(terms, collapse = " + ")))
  }
  lines <- c(lines, "f_provider ~~ f_customer")
  for (it in items) lines <- c(lines, paste0(it, "_provider ~~ ", it, "_customer"))
  for (j in seq_along(items)) for (s in sides) {
    lines <- c(lines, paste0(items[j], "_", s, " ~ ", if (k >= 2) paste0("t", j, "*") else "", "1"))
    if (k >= 3) lines <- c(lines, paste0(items[j], "_", s, " ~~ e", j, "*", items[j], "_", s))
  }
  lines <- c(lines, "f_provider ~ 0*1", paste0("f_customer ~ ", if (k >= 2) "NA*" else "0*", "1"))
  paste(lines, collapse = "\n")
}
