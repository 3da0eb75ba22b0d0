ALTER TABLE shop.stock_movements
    ADD CONSTRAINT stock_movements_product_fk
    FOREIGN KEY (product_id) REFERENCES shop.products (id) NOT VALID;
ALTER TABLE shop.stock_movements
    ADD CONSTRAINT stock_movements_warehouse_fk
    FOREIGN KEY (warehouse_id) REFERENCES shop.warehouses (id) NOT VALID;
