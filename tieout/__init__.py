"""tieout: an order-to-cash sync hub."""
