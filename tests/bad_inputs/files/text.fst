not an fst
