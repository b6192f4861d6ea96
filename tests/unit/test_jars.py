from quantcore.jars import artifact_name


def test_artifact_name_strips_versions():
    assert artifact_name("/x/kafka-clients-3.9.2.jar") == "kafka-clients"
    assert artifact_name("delta-spark_4.2_2.13-4.4.0.jar") == "delta-spark_4.2_2.13"
    assert artifact_name("spark-sql-kafka-0-10_2.13-4.2.0.jar") == "spark-sql-kafka-0-10_2.13"
    assert artifact_name("hadoop-client-api-3.5.0.jar") == "hadoop-client-api"
    assert artifact_name("quantcore-spark.jar") == "quantcore-spark"
