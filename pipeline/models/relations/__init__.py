"""Relations between columns that a model would only approximate, kept exactly instead:
a column that never exceeds another, a value tied to another column's state, a column that
is a function of others, values on a grid. Each is found on the training table and applied
around a model's fit and sample."""
