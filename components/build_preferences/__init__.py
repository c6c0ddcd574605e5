"""RosePO preference construction: (prompt, chosen, rejected) pairs with personalised smoothing factors."""
