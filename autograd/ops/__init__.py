"""The primitive ops, one `Function` each, grouped by family.

Every backward is written with these same ops, so the set is closed under differentiation:
reshape <- reshape, broadcast_to <- sum_to, getitem <- scatter_add, pad <- getitem,
unfold <- fold, transpose <- transpose, matmul <- matmul.
"""
